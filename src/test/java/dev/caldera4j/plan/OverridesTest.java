package dev.caldera4j.plan;

import dev.caldera4j.model.Qwen2Config;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class OverridesTest {

    private static final Overrides.Setting BASE = new Overrides.Setting(2, 128, 16, 4, 4);

    @Test
    void keysSortByLayerThenKindAndRoundTripThroughJson() {
        Map<String, Overrides.Setting> m = new LinkedHashMap<>();
        m.put("10.q", BASE.withLowRank(64, 4, 4));
        m.put("lm_head", Overrides.Setting.q(4, 128));
        m.put("2.down", Overrides.Setting.q(3, 128));
        m.put("2.k", BASE.withLowRank(0, 16, 16));
        Overrides o = new Overrides(m);
        assertEquals(java.util.List.of("2.k", "2.down", "10.q", "lm_head"), java.util.List.copyOf(o.map().keySet()));
        assertEquals(o, Overrides.fromJson(o.toJson()));
        assertEquals("2.k:r0 2.down:b3r0 10.q:r64 lm_head:b4r0", o.compact(BASE));
        assertArrayEquals(new int[] {2, 6}, Overrides.parseKey("2.down"));
        assertArrayEquals(new int[] {7, 4}, Overrides.locate("model.layers.7.mlp.gate_proj"));
        assertNull(Overrides.locate("lm_head"));
        assertEquals(BASE, o.resolve(3, 0, BASE));
        assertEquals(Overrides.Setting.q(3, 128), o.resolve(2, 6, BASE));
    }

    @Test
    void badKeysAndSettingsNameTheProblem() {
        var e = assertThrows(IllegalArgumentException.class, () -> new Overrides(Map.of("3.mlp", BASE)));
        assertTrue(e.getMessage().contains("3.mlp") && e.getMessage().contains("down"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Overrides.Setting(5, 128, 0, 16, 16));
        assertThrows(IllegalArgumentException.class, () -> new Overrides.Setting(2, 128, 0, 4, 4));
        var l = assertThrows(IllegalArgumentException.class, () -> new Overrides(Map.of("9.q", BASE)).checkLayers(4, "test"));
        assertTrue(l.getMessage().contains("9.q"), l.getMessage());
    }

    /** The planner with a map: exactly the uniform plan plus each overridden matrix's byte difference. */
    @Test
    void footprintCountsEachOverriddenMatrixAtItsOwnSetting() {
        Qwen2Config c = Qwen2Config.qwen2_72b();
        Footprint.Settings s = Footprint.Settings.caldera(2, 128, 64, 4);
        Footprint.Runtime rt = Footprint.Runtime.design();
        Overrides o = new Overrides(Map.of("0.down", s.asOverride().withLowRank(256, 4, 4), "79.k", Overrides.Setting.q(2, 128),
                "lm_head", Overrides.Setting.q(4, 128)));
        long uniform = Footprint.plan(c, s, rt).deviceBytes(), with = Footprint.plan(c, s, rt, o).deviceBytes();
        int[] down = Footprint.shape(c, 6), k = Footprint.shape(c, 1);
        long expected = uniform
                + Footprint.linearBytes(down[0], down[1], s.withRank(256)) - Footprint.linearBytes(down[0], down[1], s)
                + Footprint.linearBytes(k[0], k[1], s.withRank(0)) - Footprint.linearBytes(k[0], k[1], s)
                + Footprint.quantizedBytes(c.vocabSize(), c.hiddenSize(), 4, 128) - 2L * c.vocabSize() * c.hiddenSize()
                // the workspace's t = R·x grows with the largest rank (64 → 256)
                + Footprint.workspaceBytes(c, s.withRank(256), rt) - Footprint.workspaceBytes(c, s, rt);
        assertEquals(expected, with);
        assertEquals(uniform, Footprint.plan(c, s, rt, Overrides.NONE).deviceBytes());
    }
}
