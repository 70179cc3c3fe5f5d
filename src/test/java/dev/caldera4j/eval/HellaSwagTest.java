package dev.caldera4j.eval;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class HellaSwagTest {
    private static final Fakes.CharTokenizer TOK = new Fakes.CharTokenizer();

    @Test
    void accAndAccNormDifferOnACraftedCase() {
        double[] ll = {-10, -12, -30, -40};
        List<String> endings = List.of("ab", "abcdefghijklmnopqrst", "abcde", "abcde");
        assertEquals(0, HellaSwag.choose(ll), "largest sum: −10");
        // per char: −5, −0.6, −6, −8
        assertEquals(1, HellaSwag.chooseNorm(ll, endings));
        assertEquals(0, HellaSwag.choose(new double[] {-1, -1, -2, -3}), "first on ties, as np.argmax");
        assertEquals(2, HellaSwag.chooseNorm(new double[] {-4, -4, -4, -4}, List.of("é", "éé", "ééé", "éé")),
                "length in code points");
    }

    /**
     * Uniform logits: an ending of n chars (n+1 tokens with its leading space) scores
     * −(n+1)·log 128. acc therefore picks the shortest ending; per char, −(n+1)/n·log 128 is
     * largest for the longest ending, so acc_norm picks that one.
     */
    @Test
    void uniformModelPrefersShortEndingsByAccAndLongOnesByAccNorm() {
        List<String> endings = List.of("mid end", "x", "a much longer ending.", "ok");
        HellaSwag.Task goldLongest = new HellaSwag.Task("Activity: someone does", 2, endings);
        HellaSwag.Task goldShortest = new HellaSwag.Task("Activity: someone does", 1, endings);
        Fakes.Uniform model = new Fakes.Uniform(128);
        HellaSwag.Result r = HellaSwag.evaluate(model, TOK, List.of(goldLongest, goldShortest, goldLongest), 0,
                2048, d -> { });
        assertEquals(3, r.tasks());
        assertEquals(1, r.correct());
        assertEquals(2, r.correctNorm());
        assertEquals(12, model.calls.size(), "one call per ending");
        assertEquals("Activity: someone does mid en", TOK.decode(model.calls.get(0)), "context + \" \" + ending, minus last");
        HellaSwag.Result first = HellaSwag.evaluate(model, TOK, List.of(goldLongest, goldShortest), 1, 2048, d -> { });
        assertEquals(1, first.tasks());
        assertEquals(0, first.correct());
        assertEquals(1, first.correctNorm());
    }

    @Test
    void taskRejectsBadShape() {
        assertThrows(IllegalArgumentException.class, () -> new HellaSwag.Task("c", 4, List.of("a", "b", "c", "d")));
        assertThrows(IllegalArgumentException.class, () -> new HellaSwag.Task("c", 0, List.of("a", "b", "c")));
    }
}
