package dev.caldera4j.eval;

import dev.caldera4j.model.LanguageModel;
import dev.caldera4j.tokenizer.Tokenizer;

import java.util.List;
import java.util.function.IntConsumer;

/**
 * HellaSwag zero-shot multiple choice, as lm-eval-harness scores it.
 *
 * <p>The llama.cpp text format already carries lm-eval's preprocessed strings (its context line is
 * preprocess(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()), its endings
 * preprocess(ending)). Each ending is scored as the continuation " " + ending after the context
 * (llama.cpp tokenizes context + " " + ending too), with {@link Loglikelihood#encode}. acc picks
 * the ending of largest summed log-prob; acc_norm divides each sum by the ending's length in
 * characters (Unicode code points, Python's len, without the leading space — lm-eval's
 * completion_len = len(choice)). llama.cpp instead divides by the token count and shuffles the
 * tasks; we follow lm-eval, the source of the published acc/acc_norm numbers. Ties go to the
 * first ending (np.argmax).
 */
public final class HellaSwag {
    private HellaSwag() {}

    /** @param endings the 4 endings; gold ∈ [0, 4) */
    public record Task(String context, int gold, List<String> endings) {
        public Task {
            endings = List.copyOf(endings);
            if (endings.size() != 4 || gold < 0 || gold >= endings.size()) {
                throw new IllegalArgumentException("HellaSwag task needs 4 endings and a gold label in [0, 4),"
                        + " got " + endings.size() + " endings and gold " + gold + " for context \"" + context + "\"");
            }
        }
    }

    /**
     * @param tasks       tasks scored
     * @param correct     tasks where the largest summed log-prob is the gold ending
     * @param correctNorm tasks where the largest log-prob per character is the gold ending
     * @param seconds     wall time
     */
    public record Result(int tasks, int correct, int correctNorm, double seconds) {
        public double acc() {
            return (double) correct / tasks;
        }

        public double accNorm() {
            return (double) correctNorm / tasks;
        }
    }

    /** Index of the largest summed log-prob (acc); first on ties. */
    public static int choose(double[] logProbs) {
        int best = 0;
        for (int i = 1; i < logProbs.length; i++) {
            if (logProbs[i] > logProbs[best]) {
                best = i;
            }
        }
        return best;
    }

    /** Index of the largest log-prob per character of the ending (acc_norm); first on ties. */
    public static int chooseNorm(double[] logProbs, List<String> endings) {
        int[] chars = new int[endings.size()];
        for (int i = 0; i < chars.length; i++) chars[i] = endings.get(i).codePointCount(0, endings.get(i).length());
        return chooseNorm(logProbs, chars);
    }

    /** Same, with each ending's length in code points given. */
    public static int chooseNorm(double[] logProbs, int[] endingChars) {
        double[] perChar = new double[logProbs.length];
        for (int i = 0; i < logProbs.length; i++) {
            perChar[i] = logProbs[i] / endingChars[i];
        }
        return choose(perChar);
    }

    /**
     * One task tokenized: the four (context, " " + ending) pairs as {@link Loglikelihood#encode}
     * makes them, the gold label, and each ending's length in characters (acc_norm's divisor).
     */
    public record Encoded(Loglikelihood.Pair[] pairs, int gold, int[] endingChars) {
        public Encoded {
            if (pairs.length != 4 || endingChars.length != 4 || gold < 0 || gold >= 4) {
                throw new IllegalArgumentException("an encoded HellaSwag task needs 4 pairs, 4 ending lengths and a gold label in [0, 4),"
                        + " got " + pairs.length + ", " + endingChars.length + " and " + gold);
            }
        }
    }

    /** Tokenizes one task. */
    public static Encoded encode(Tokenizer tokenizer, Task task) {
        Loglikelihood.Pair[] pairs = new Loglikelihood.Pair[4];
        int[] chars = new int[4];
        for (int e = 0; e < 4; e++) {
            String ending = task.endings().get(e);
            pairs[e] = Loglikelihood.encode(tokenizer, task.context(), " " + ending);
            chars[e] = ending.codePointCount(0, ending.length());
        }
        return new Encoded(pairs, task.gold(), chars);
    }

    /** The first n tasks tokenized (one thread, task order). */
    public static List<Encoded> encode(Tokenizer tokenizer, List<Task> tasks, int n) {
        List<Encoded> encoded = new java.util.ArrayList<>(n);
        for (int i = 0; i < n; i++) encoded.add(encode(tokenizer, tasks.get(i)));
        return encoded;
    }

    /**
     * acc and acc_norm over the first maxTasks tasks (≤ 0: all).
     *
     * @param maxLength longest model input; longer contexts are cut from the left
     * @param progress  called with the number of tasks done after each task
     */
    public static Result evaluate(LanguageModel model, Tokenizer tokenizer, List<Task> tasks, int maxTasks,
                                  int maxLength, IntConsumer progress) {
        int n = maxTasks > 0 ? Math.min(maxTasks, tasks.size()) : tasks.size();
        if (n == 0) {
            throw new IllegalArgumentException("no HellaSwag tasks to evaluate");
        }
        // tokenize first (one thread), then score the tasks on all cores
        return evaluateEncoded(model, encode(tokenizer, tasks, n), n, maxLength, progress);
    }

    /**
     * acc and acc_norm over the first maxTasks already-tokenized tasks (≤ 0: all) — what
     * {@link #evaluate} runs after tokenizing; a machine without the tokenizer evaluates from a
     * {@link TokenizedEval}.
     */
    public static Result evaluateEncoded(LanguageModel model, List<Encoded> tasks, int maxTasks, int maxLength,
                                         IntConsumer progress) {
        int n = maxTasks > 0 ? Math.min(maxTasks, tasks.size()) : tasks.size();
        if (n == 0) {
            throw new IllegalArgumentException("no HellaSwag tasks to evaluate");
        }
        long start = System.nanoTime();
        List<double[]> all = dev.caldera4j.util.Parallel.map(n, i -> {
            Loglikelihood.Pair[] pairs = tasks.get(i).pairs();
            double[] logProbs = new double[4]; // (4) summed log-prob of each ending
            // the four endings share the context's tokens (encode keeps them a prefix): run it once
            boolean shared = true;
            for (int e = 1; e < 4; e++) shared &= java.util.Arrays.equals(pairs[e].context(), pairs[0].context());
            if (shared) {
                int[][] conts = new int[4][];
                for (int e = 0; e < 4; e++) conts[e] = pairs[e].continuation();
                Loglikelihood.Score[] s = Loglikelihood.scoreShared(model, pairs[0].context(), conts, maxLength);
                for (int e = 0; e < 4; e++) logProbs[e] = s[e].logProb();
            } else {
                for (int e = 0; e < 4; e++) logProbs[e] = Loglikelihood.score(model, pairs[e], maxLength).logProb();
            }
            return logProbs;
        }, progress);
        int correct = 0;
        int correctNorm = 0;
        for (int i = 0; i < n; i++) {
            Encoded task = tasks.get(i);
            if (choose(all.get(i)) == task.gold()) {
                correct++;
            }
            if (chooseNorm(all.get(i), task.endingChars()) == task.gold()) {
                correctNorm++;
            }
        }
        return new Result(n, correct, correctNorm, (System.nanoTime() - start) * 1e-9);
    }
}
