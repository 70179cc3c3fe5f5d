package dev.caldera4j.quant;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/**
 * GPTQ codes against gptq_golden.bin, written by an independent numpy port of the reference
 * fasterquant (see gptq_golden.py beside it): W, H and codes for bits 2/3/4 × per-channel/group 32
 * × act-order × symmetric.
 */
class GptqGoldenTest {
    /**
     * numpy (inv of the Cholesky factor) and LAPACK dpotri reach Hinv by different float64 paths; a
     * code can differ only where a value lies within ~1e-12 of a rounding boundary. Allow at most
     * 1 code in 1000 (2 of the 2048 per config); seen here: none.
     */
    static final double MIN_AGREEMENT = 0.999;

    @Test
    void codesMatchTheNumpyReferencePort() throws IOException {
        ByteBuffer b;
        try (InputStream in = GptqGoldenTest.class.getResourceAsStream("gptq_golden.bin")) {
            assertNotNull(in, "test resource dev/caldera4j/quant/gptq_golden.bin is missing; regenerate it with gptq_golden.py");
            b = ByteBuffer.wrap(in.readAllBytes()).order(ByteOrder.LITTLE_ENDIAN);
        }
        int dOut = b.getInt(), dIn = b.getInt(), nConfigs = b.getInt();
        float[] W = new float[dOut * dIn];
        for (int i = 0; i < W.length; i++) W[i] = b.getFloat();
        double[] H = new double[dIn * dIn];
        for (int i = 0; i < H.length; i++) H[i] = b.getDouble();
        assertEquals(24, nConfigs);
        for (int k = 0; k < nConfigs; k++) {
            int bits = b.getInt(), group = b.getInt();
            boolean act = b.getInt() == 1, sym = b.getInt() == 1;
            QuantConfig c = QuantConfig.of(bits, group).withActOrder(act).withSymmetric(sym);
            int[] codes = Packing.unpack(Gptq.quantize(W, dOut, dIn, H, c, "golden").Q().qweight(), dOut, dIn, bits);
            int same = 0;
            for (int i = 0; i < codes.length; i++) if (codes[i] == (b.get() & 0xFF)) same++;
            assertTrue(same >= MIN_AGREEMENT * codes.length, c + ": " + same + " of " + codes.length + " codes agree");
        }
        assertFalse(b.hasRemaining(), "trailing bytes in gptq_golden.bin");
    }
}
