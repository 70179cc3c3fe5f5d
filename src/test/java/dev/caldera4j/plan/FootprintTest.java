package dev.caldera4j.plan;

import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.quant.CompressedLinear;
import dev.caldera4j.quant.Hadamard;
import dev.caldera4j.quant.Incoherence;
import dev.caldera4j.quant.LowRank;
import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.quant.QuantizedMatrix;
import dev.caldera4j.quant.Rtn;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

class FootprintTest {

    static float[] gaussian(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    /** The planner's bytes per matrix equal what a real compressed layer stores, for every factor form. */
    @Test
    void linearBytesEqualStoredBytesOfRealLayers() {
        SplittableRandom r = new SplittableRandom(3);
        int[][] shapes = {{64, 256}, {96, 128}, {128, 384}};
        for (int[] sh : shapes) {
            int dOut = sh[0], dIn = sh[1];
            for (int group : new int[] {64, 128}) {
                for (int rank : new int[] {0, 16, 32}) {
                    for (int bits : new int[] {4, 16}) {
                        for (boolean had : new boolean[] {false, true}) {
                            if (had && !(Hadamard.isSupported(dOut) && Hadamard.isSupported(dIn))) continue;
                            QuantizedMatrix Q = Rtn.quantize(gaussian(r, dOut * dIn), dOut, dIn, QuantConfig.of(2, group));
                            LowRank lr = null;
                            if (rank > 0) {
                                float[] L = gaussian(r, dOut * rank), R = gaussian(r, rank * dIn);
                                lr = bits == 16
                                        ? new LowRank(dOut, dIn, rank, 16, 16, LowRank.toFp16(L), LowRank.toFp16(R), null, null)
                                        : new LowRank(dOut, dIn, rank, 4, 4, null, null,
                                                Rtn.quantize(L, dOut, rank, QuantConfig.of(4, LowRank.lGroup(rank))),
                                                Rtn.quantize(R, rank, dIn, QuantConfig.of(4, 128 <= dIn && dIn % 128 == 0 ? 128 : dIn)));
                            }
                            Incoherence inc = had ? new Incoherence(dIn, dOut, dIn, dOut, new byte[dIn], new byte[dOut]) : null;
                            CompressedLinear cl = new CompressedLinear(Q, lr, inc, null);
                            int factorGroup = 128 <= dIn && dIn % 128 == 0 ? 128 : dIn;
                            Footprint.Settings s = new Footprint.Settings(2, group, rank, bits, bits, factorGroup, had, 16, 128, false);
                            assertEquals(cl.storedBytes(), Footprint.linearBytes(dOut, dIn, s),
                                    dOut + "x" + dIn + " g" + group + " r" + rank + " b" + bits + " had=" + had);
                        }
                    }
                }
            }
        }
    }

    @Test
    void qwen2_72bNumbersMatchDesign() {
        Qwen2Config c = Qwen2Config.qwen2_72b();
        assertEquals(70.21e9, Footprint.linearParams(c), 0.005e9, "DESIGN: 70.21 B parameters in linears");
        Footprint.Plan p = Footprint.plan(c, Footprint.Settings.caldera(2, 128, 0, 4), Footprint.Runtime.design());
        // 2 bits + an fp16 scale and zero per 128 inputs = exactly 2.25 bits
        assertEquals(2.25, p.linearBitsPerParam(), 1e-12);
        assertEquals(1.25 * (1L << 30), p.byName().get("KV cache (4096 positions, batch 1)"), 0.0, "2·80·1024·4096·2 bytes");
        assertEquals(2L * 152064 * 8192, p.byName().get("token embedding (bf16)"));
        assertTrue(p.parts().stream().anyMatch(x -> x.name().startsWith("token embedding") && !x.onDevice()),
                "minimal offload: the embedding stays in host memory");
        // DESIGN: at 2.25 bits the 72B linears are 19.8 GB
        long linears = p.parts().stream().filter(x -> x.name().startsWith("linears")).mapToLong(Footprint.Part::bytes).sum();
        assertEquals(19.75e9, linears, 0.05e9);
    }

    @Test
    void largerRankNeverShrinksTheFootprint() {
        Qwen2Config c = Qwen2Config.qwen2_72b();
        long prev = 0;
        for (int r = 0; r <= 512; r += 64) {
            long b = Footprint.plan(c, Footprint.Settings.caldera(2, 128, r, 4), Footprint.Runtime.design()).deviceBytes();
            assertTrue(b > prev || r == 0, "rank " + r);
            prev = b;
        }
        assertThrows(IllegalArgumentException.class, () -> Footprint.Settings.caldera(2, 128, -1, 4));
        assertThrows(IllegalArgumentException.class, () -> Footprint.Settings.caldera(2, 128, 8, 12));
    }
}
