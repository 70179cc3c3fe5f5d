package dev.caldera4j.cli;

public final class Main {
    public static void main(String[] args) {
        System.out.println("caldera4j");
    }
}
