package dev.caldera4j.calib;

import com.google.gson.JsonObject;
import dev.caldera4j.format.CompressedCheckpoint;
import dev.caldera4j.gpu.CpuTwins;
import dev.caldera4j.gpu.Factor;
import dev.caldera4j.gpu.FormatV1Layer;
import dev.caldera4j.gpu.GpuLayout;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.plan.Footprint;
import dev.caldera4j.plan.Overrides;
import dev.caldera4j.quant.CalderaConfig;
import dev.caldera4j.quant.CompressedLinear;
import dev.caldera4j.quant.LowRank;
import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.quant.QuantizedMatrix;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A tiny checkpoint compressed with a per-matrix override map: every consumer reads each matrix's
 * own layout — caldera4j.json, the CPU forward, the GPU layout converter (no GPU needed) and the
 * footprint planner.
 */
@org.junit.jupiter.api.extension.ExtendWith(SingleThreadBlas.class)
class OverrideCheckpointTest {

    @TempDir
    static Path tmp;

    static Path ckpt;
    static final Overrides.Setting BASE = new Overrides.Setting(2, 128, 16, 4, 4);
    /** GPTQ-only k in layer 0, rank 32 down in layer 1, 3-bit q in layer 2 (CPU only), group 64 rank 8 gate in layer 3. */
    static final Overrides MAP = new Overrides(Map.of(
            "0.k", Overrides.Setting.q(2, 128),
            "1.down", BASE.withLowRank(32, 4, 4),
            "2.q", new Overrides.Setting(3, 128, 16, 4, 4),
            "3.gate", new Overrides.Setting(2, 64, 8, 4, 4)));

    @BeforeAll
    static void compress() throws Exception {
        Path corpus = Fixtures.syntheticCorpus(tmp.resolve("corpus"), 11, 40);
        QuantConfig q = QuantConfig.of(2, 128);
        CalderaConfig cc = CalderaConfig.of(16, 4, 4).withQ(2, 128).withActOrder(q.actOrder()).withIters(2, 2);
        ckpt = tmp.resolve("ovr");
        CheckpointCompressor.run(new CheckpointCompressor.Job(Fixtures.TINY, ckpt,
                new CompressSpec("caldera", q, false, cc, MAP), new CheckpointCompressor.Calibration(corpus, 4, 64, 0)), null);
    }

    private static Overrides.Setting stored(CompressedLinear cl) {
        LowRank lr = cl.lr();
        return lr == null ? Overrides.Setting.q(cl.Q().bits(), cl.Q().group())
                : new Overrides.Setting(cl.Q().bits(), cl.Q().group(), lr.rank(), lr.bl(), lr.br());
    }

    @Test
    void metadataRecordsTheMapAndEachMatrixItsOwnSetting() {
        JsonObject meta = CompressedCheckpoint.readMeta(ckpt);
        assertEquals(MAP, Overrides.fromJson(meta.getAsJsonObject("method_config").getAsJsonObject("overrides")));
        JsonObject layers = meta.getAsJsonObject("layers");
        for (int l = 0; l < 4; l++)
            for (int k = 0; k < 7; k++) {
                JsonObject e = layers.getAsJsonObject(SequentialCompressor.linearName(l, k));
                Overrides.Setting want = MAP.resolve(l, k, BASE);
                assertEquals(want.bq(), e.get("bq").getAsInt(), l + "." + k);
                assertEquals(want.group(), e.get("group").getAsInt(), l + "." + k);
                assertEquals(want.rank(), e.get("rank").getAsInt(), l + "." + k);
            }
        assertEquals("0.k:r0 1.down:r32 2.q:b3 3.gate:g64r8", CompressedCheckpoint.rowFields(ckpt).get("overrides"));
    }

    /** The CPU reader builds each layer from its own entry, and the model runs. */
    @Test
    void cpuForwardRunsEveryMatrixAtItsOwnSetting() {
        Qwen2Weights w = CompressedCheckpoint.load(ckpt);
        for (int l = 0; l < 4; l++) {
            var lin = w.layers()[l].linears();
            for (int k = 0; k < 7; k++) {
                CompressedLinear cl = assertInstanceOf(CompressedLinear.class, lin[k]);
                assertEquals(MAP.resolve(l, k, BASE), stored(cl), l + "." + Overrides.KINDS.get(k));
            }
        }
        float[] logits = new Qwen2Model(w).logits(new int[] {5, 17, 300, 2, 9});
        for (float v : logits) assertTrue(Float.isFinite(v));
    }

    /** Format v1 arrays of a CPU layer as the GPU path takes them (fp16 bits; factors at 4 or 16 bits). */
    static FormatV1Layer formatV1(String name, CompressedLinear cl) {
        QuantizedMatrix Q = cl.Q();
        LowRank lr = cl.lr();
        Factor L = null, R = null;
        if (lr != null) {
            L = factor(name + ".L", lr.dOut(), lr.rank(), lr.bl(), lr.L16(), lr.Lq());
            R = factor(name + ".R", lr.rank(), lr.dIn(), lr.br(), lr.R16(), lr.Rq());
        }
        return new FormatV1Layer(name, Q.dOut(), Q.dIn(), Q.bits(), Q.group(), Q.qweight(), Q.scales(), Q.zeros(), L, R);
    }

    private static Factor factor(String name, int rows, int cols, int bits, float[] f16, QuantizedMatrix q) {
        if (bits == 16) {
            short[] h = new short[f16.length];
            for (int i = 0; i < h.length; i++) h[i] = Float.floatToFloat16(f16[i]);
            return new Factor(name, rows, cols, 16, 0, h, null, null, null);
        }
        return new Factor(name, rows, cols, bits, q.group(), null, q.qweight(), q.scales(), q.zeros());
    }

    /**
     * The GPU converter takes group, rank and factors from each matrix: codes read back through the
     * tile map equal the stored codes exactly, and each factor keeps its own rank and group. The
     * 3-bit override is refused with a message (no GPU kernel reads 3-bit codes; CPU path only).
     */
    @Test
    void gpuLayoutConvertsEachMatrixWithItsOwnGroupAndRank() {
        Qwen2Weights w = CompressedCheckpoint.load(ckpt);
        int converted = 0;
        for (int l = 0; l < 4; l++) {
            var lin = w.layers()[l].linears();
            for (int k = 0; k < 7; k++) {
                CompressedLinear cl = (CompressedLinear) lin[k];
                String name = SequentialCompressor.linearName(l, k);
                Overrides.Setting s = MAP.resolve(l, k, BASE);
                if (s.bq() == 3) {
                    assertThrows(IllegalArgumentException.class, () -> formatV1(name, cl), name + ": 3-bit is CPU only");
                    continue;
                }
                GpuLayout.GpuLayer g = GpuLayout.convert(formatV1(name, cl));
                assertEquals(s.group(), g.group(), name);
                assertEquals(s.rank(), g.rank(), name);
                assertEquals(128 / s.group(), g.GT(), name);
                int[] codes = CpuTwins.codesFromTiles(g);
                QuantizedMatrix Q = cl.Q();
                for (int o = 0; o < Q.dOut(); o++)
                    for (int i = 0; i < Q.dIn(); i++)
                        assertEquals((Q.qweight()[o * (Q.dIn() / 16) + i / 16] >>> (2 * (i % 16))) & 3, codes[o * Q.dIn() + i], name);
                if (s.rank() > 0) {
                    assertEquals(s.rank(), g.R().rows(), name);
                    assertEquals(s.group(), g.R().group(), name + ": R is grouped along d_in with Q's group");
                    assertEquals(Math.min(s.rank(), 128), g.L().group(), name + ": L is grouped along the rank, group min(r, 128)");
                }
                converted++;
            }
        }
        assertEquals(27, converted);
    }

    /** The planner with the same map counts exactly the bytes the checkpoint stores for its linears (biases aside). */
    @Test
    void footprintWithTheMapEqualsTheStoredBytes() {
        JsonObject layers = CompressedCheckpoint.readMeta(ckpt).getAsJsonObject("layers");
        long stored = 0;
        for (var e : layers.entrySet()) {
            JsonObject o = e.getValue().getAsJsonObject();
            long bias = o.has("bias") ? (o.get("bias").getAsString().equals("F16") ? 2L : 4L) * o.get("d_out").getAsLong() : 0;
            stored += o.get("stored_bytes").getAsLong() - bias;
        }
        Qwen2Config c = Qwen2Config.load(Fixtures.TINY.resolve("config.json"));
        Footprint.Plan p = Footprint.plan(c, Footprint.Settings.caldera(2, 128, 16, 4), Footprint.Runtime.design(), MAP);
        long planned = p.parts().stream().filter(x -> x.name().startsWith("linears")).mapToLong(Footprint.Part::bytes).sum();
        assertEquals(stored, planned);
        long uniform = Footprint.plan(c, Footprint.Settings.caldera(2, 128, 16, 4), Footprint.Runtime.design()).parts().stream()
                .filter(x -> x.name().startsWith("linears")).mapToLong(Footprint.Part::bytes).sum();
        assertNotEquals(uniform, planned, "the map changes the count");
    }

    @Test
    void mapsThatCannotBeHonouredAreRefusedUpFront() {
        QuantConfig q = QuantConfig.of(2, 128);
        var e = assertThrows(IllegalArgumentException.class,
                () -> CompressSpec.gptq(q).withOverrides(new Overrides(Map.of("1.q", BASE))));
        assertTrue(e.getMessage().contains("1.q"), e.getMessage());
        var h = assertThrows(IllegalArgumentException.class,
                () -> CompressSpec.gptq(q).withOverrides(new Overrides(Map.of("lm_head", Overrides.Setting.q(4, 128)))));
        assertTrue(h.getMessage().contains("lm_head"), h.getMessage());
        CompressSpec bad = CompressSpec.gptq(q).withOverrides(new Overrides(Map.of("2.down", Overrides.Setting.q(2, 100))));
        var g = assertThrows(IllegalArgumentException.class, () -> bad.checkShapes(Qwen2Config.load(Fixtures.TINY.resolve("config.json"))));
        assertTrue(g.getMessage().contains("2.down") && g.getMessage().contains("100"), g.getMessage());
    }
}
