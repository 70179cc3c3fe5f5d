package dev.caldera4j.util;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ParallelTest {
    @Test
    void resultsInIndexOrderProgressIncreasingErrorsPropagate() {
        List<Integer> seen = new ArrayList<>();
        List<Long> out = Parallel.map(1000, i -> (long) i * i, seen::add);
        for (int i = 0; i < 1000; i++) assertEquals((long) i * i, out.get(i));
        assertEquals(1000, seen.size());
        for (int i = 0; i < seen.size(); i++) assertEquals(i + 1, seen.get(i), "progress counts arrive in order");
        assertEquals(List.of(), Parallel.map(0, i -> i, null));
        var e = assertThrows(IllegalArgumentException.class, () -> Parallel.map(50, i -> {
            if (i == 17) throw new IllegalArgumentException("item 17 is bad");
            return i;
        }, null));
        assertEquals("item 17 is bad", e.getMessage());
    }
}
