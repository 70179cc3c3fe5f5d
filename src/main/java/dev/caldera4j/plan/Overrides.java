package dev.caldera4j.plan;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.StringJoiner;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Per-matrix exceptions to a compression run's one setting (issue 8, Stage 2): for a layer index
 * and a matrix kind (q, k, v, o, gate, up, down) — or the lm_head — its own bq, group, rank, bl
 * and br. A matrix without an entry uses the run's base setting.
 *
 * <p>Keys are {@code "<layer>.<kind>"} (e.g. {@code "3.down"}) or {@code "lm_head"}. The map is
 * kept sorted by (layer, kind order), lm_head last, so its JSON form (written into the run's
 * method_config and hence caldera4j.json) is deterministic.
 *
 * <p>Consumers: {@code calib.CompressSpec} compresses each matrix with its setting (every
 * matrix's own layout then lands in its caldera4j.json entry, which the CPU reader and the GPU
 * converter read per matrix), and {@link Footprint#plan(dev.caldera4j.model.Qwen2Config,
 * Footprint.Settings, Footprint.Runtime, Overrides)} counts bytes with it.
 *
 * @param map key → setting, in key order
 */
public record Overrides(Map<String, Setting> map) {

    /** Matrix kinds in the order of {@code Qwen2Weights.Block.LINEAR_NAMES}. */
    public static final List<String> KINDS = List.of("q", "k", "v", "o", "gate", "up", "down");
    public static final String LM_HEAD = "lm_head";
    public static final Overrides NONE = new Overrides(Map.of());

    /**
     * One matrix's storage.
     *
     * @param bq    bits of Q ∈ {2, 3, 4, 8}
     * @param group Q's group along d_in (−1: one group per row)
     * @param rank  r of L·R; 0 = no low-rank term (method caldera then compresses that matrix by LDLQ = GPTQ alone)
     * @param bl    bits of L (2, 3, 4, 8 or 16); 16 when rank = 0
     * @param br    bits of R, as bl
     */
    public record Setting(int bq, int group, int rank, int bl, int br) {
        public Setting {
            if (bq != 2 && bq != 3 && bq != 4 && bq != 8)
                throw new IllegalArgumentException("override bq=" + bq + " is not supported; format v1 stores 2, 3, 4 or 8-bit codes");
            if (group < -1 || group == 0)
                throw new IllegalArgumentException("override group=" + group + " is invalid; use a positive group (e.g. 128) or -1 for per-row");
            if (rank < 0) throw new IllegalArgumentException("override rank=" + rank + " must be ≥ 0");
            for (int b : new int[] {bl, br})
                if (b != 2 && b != 3 && b != 4 && b != 8 && b != 16)
                    throw new IllegalArgumentException("override factor bits " + b + " are not supported; use 2, 3, 4, 8 or 16");
            if (rank == 0 && (bl != 16 || br != 16))
                throw new IllegalArgumentException("override with rank 0 has no factors: give bl = br = 16, got bl=" + bl + " br=" + br);
        }

        /** Q only (rank 0). */
        public static Setting q(int bq, int group) {
            return new Setting(bq, group, 0, 16, 16);
        }

        /** This Q grid with a rank-r term at bl/br bits (Q alone when rank is 0). */
        public Setting withLowRank(int rank, int bl, int br) {
            return rank == 0 ? q(bq, group) : new Setting(bq, group, rank, bl, br);
        }

        /** Short label, e.g. "b2g128r32l4r4" or "b2g128" for rank 0. */
        public String label() {
            return "b" + bq + "g" + group + (rank == 0 ? "" : "r" + rank + "l" + bl + "r" + br);
        }

        /** The fields that differ from {@code base}, e.g. "r64" or "b3r0" ("=" when none). */
        public String diff(Setting base) {
            StringBuilder sb = new StringBuilder();
            if (bq != base.bq) sb.append('b').append(bq);
            if (group != base.group) sb.append('g').append(group);
            if (rank != base.rank) sb.append('r').append(rank);
            if (rank > 0 && bl != base.bl) sb.append("bl").append(bl);
            if (rank > 0 && br != base.br) sb.append("br").append(br);
            return sb.isEmpty() ? "=" : sb.toString();
        }

        public JsonObject toJson() {
            JsonObject o = new JsonObject();
            o.addProperty("bq", bq);
            o.addProperty("group", group);
            o.addProperty("rank", rank);
            o.addProperty("bl", bl);
            o.addProperty("br", br);
            return o;
        }

        static Setting fromJson(String key, JsonObject o) {
            for (String f : List.of("bq", "group", "rank", "bl", "br"))
                if (!o.has(f)) throw new IllegalArgumentException("override '" + key + "' lacks \"" + f + "\": give bq, group, rank, bl, br");
            return new Setting(o.get("bq").getAsInt(), o.get("group").getAsInt(), o.get("rank").getAsInt(),
                    o.get("bl").getAsInt(), o.get("br").getAsInt());
        }
    }

    public Overrides {
        for (String k : map.keySet()) order(k);  // validates every key
        List<String> keys = new ArrayList<>(map.keySet());
        keys.sort(Comparator.comparingLong(Overrides::order));
        Map<String, Setting> sorted = new LinkedHashMap<>();
        for (String k : keys) sorted.put(k, Objects.requireNonNull(map.get(k), "override '" + k + "' has a null setting"));
        map = java.util.Collections.unmodifiableMap(sorted);
    }

    private static final Pattern KEY = Pattern.compile("(\\d+)\\.(q|k|v|o|gate|up|down)");

    /** Sort order of a key: layer·8 + kind; lm_head after every layer. Throws on a malformed key. */
    private static long order(String key) {
        if (key.equals(LM_HEAD)) return Long.MAX_VALUE;
        Matcher m = KEY.matcher(key);
        if (!m.matches())
            throw new IllegalArgumentException("override key '" + key + "' is malformed: use \"<layer>.<kind>\" with kind one of "
                    + KINDS + " (e.g. \"3.down\"), or \"" + LM_HEAD + "\"");
        return Long.parseLong(m.group(1)) * 8 + KINDS.indexOf(m.group(2));
    }

    /** (layer, kind index) of a key such as "3.down"; null for "lm_head". */
    public static int[] parseKey(String key) {
        long o = order(key);
        return o == Long.MAX_VALUE ? null : new int[] {(int) (o / 8), (int) (o % 8)};
    }

    public static String key(int layer, int kind) {
        return layer + "." + KINDS.get(kind);
    }

    private static final Pattern TENSOR = Pattern.compile("model\\.layers\\.(\\d+)\\.(self_attn|mlp)\\.(q|k|v|o|gate|up|down)_proj");

    /**
     * (layer, kind index) of a block linear's tensor prefix, e.g. {@code model.layers.3.mlp.down_proj}
     * → {3, 6}; null for any other name.
     */
    public static int[] locate(String tensorPrefix) {
        Matcher m = TENSOR.matcher(tensorPrefix);
        return m.matches() ? new int[] {Integer.parseInt(m.group(1)), KINDS.indexOf(m.group(3))} : null;
    }

    public boolean isEmpty() {
        return map.isEmpty();
    }

    /** The override of matrix (layer, kind), or null. */
    public Setting get(int layer, int kind) {
        return map.get(key(layer, kind));
    }

    /** The setting matrix (layer, kind) is compressed with: its override, else {@code base}. */
    public Setting resolve(int layer, int kind, Setting base) {
        Setting s = get(layer, kind);
        return s != null ? s : base;
    }

    /** Checks that every key names a matrix of a model with {@code layers} blocks. */
    public void checkLayers(int layers, String what) {
        for (String k : map.keySet())
            if (!k.equals(LM_HEAD) && Integer.parseInt(k.substring(0, k.indexOf('.'))) >= layers)
                throw new IllegalArgumentException(what + ": override '" + k + "' names a layer beyond the model's " + layers
                        + " (layers are 0 … " + (layers - 1) + ")");
    }

    /** {"3.down": {"bq":2, …}, …} in key order. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        map.forEach((k, s) -> o.add(k, s.toJson()));
        return o;
    }

    public static Overrides fromJson(JsonObject o) {
        Map<String, Setting> m = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : o.entrySet()) {
            if (!e.getValue().isJsonObject())
                throw new IllegalArgumentException("override '" + e.getKey() + "' must be an object {bq, group, rank, bl, br}, got " + e.getValue());
            m.put(e.getKey(), Setting.fromJson(e.getKey(), e.getValue().getAsJsonObject()));
        }
        return new Overrides(m);
    }

    /**
     * The map as one line relative to {@code base}, entries equal to base left out, e.g.
     * "0.k:r0 0.v:r0 5.down:r64" ("" when nothing differs): the results rows' "overrides" field.
     */
    public String compact(Setting base) {
        StringJoiner j = new StringJoiner(" ");
        map.forEach((k, s) -> {
            if (!s.equals(base)) j.add(k + ":" + s.diff(base));
        });
        return j.toString();
    }

    /** Drops entries equal to {@code base} (they change nothing). */
    public Overrides without(Setting base) {
        Map<String, Setting> m = new LinkedHashMap<>();
        map.forEach((k, s) -> {
            if (!s.equals(base)) m.put(k, s);
        });
        return new Overrides(m);
    }
}
