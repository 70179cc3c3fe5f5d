package dev.caldera4j.format;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.caldera4j.io.Checkpoint;
import dev.caldera4j.io.DType;
import dev.caldera4j.io.SafetensorsFile;
import dev.caldera4j.io.SafetensorsWriter;
import dev.caldera4j.io.TensorInfo;
import dev.caldera4j.model.DenseLinear;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.plan.Overrides;
import dev.caldera4j.quant.CompressedLinear;
import dev.caldera4j.quant.Incoherence;
import dev.caldera4j.quant.LowRank;
import dev.caldera4j.quant.Packing;
import dev.caldera4j.quant.QuantizedMatrix;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Compressed checkpoint, format v1 (DESIGN "Compressed checkpoint — format v1"): a directory with
 * the original config.json and tokenizer files, safetensors weights (shards + index as
 * {@link dev.caldera4j.calib.CheckpointCompressor} writes them, or one model.safetensors) and
 * {@code caldera4j.json}.
 *
 * <p>Per compressed linear with prefix P, W of (d_out, d_in), padded to (d_out′, d_in′) when a
 * Hadamard transform is used (else d′ = d):
 * <pre>
 *   P.qweight          I32 [d_out′, ceil(d_in′·bq/32)]   codes, {@link Packing}'s bit stream along d_in
 *   P.scales, P.zeros  F16 [d_out′, d_in′/group]          w = (q − zero)·scale
 *   P.L, P.R           F16 [d_out′, r], [r, d_in′]          when bl / br = 16
 *   P.L.qweight/.scales/.zeros                             when bl < 16: L as a (d_out′, r) matrix, group min(r, 128)
 *   P.R.qweight/.scales/.zeros                             when br < 16: R as a (r, d_in′) matrix, grouped along d_in′
 *   P.su, P.sv         I8  [d_in′], [d_out′]               Hadamard signs ±1
 *   P.bias             F16 [d_out] when every value is exactly an fp16, else F32 (never rounded)
 * </pre>
 * Everything else (embedding, norms, lm_head, and any linear left dense as P.weight) keeps its
 * original name, dtype and bytes. {@code caldera4j.json} has, under "layers", one entry per
 * compressed linear ({@link #entry}): dims, padded dims, bq, group, rank, bl, br, act_order,
 * hadamard, stored bytes, exact bits/param and the proxy error. A reader takes bq, group and the
 * factors' layout from that entry and checks every tensor's dtype and shape against it.
 */
public final class CompressedCheckpoint {
    private CompressedCheckpoint() {}

    public static final String META_FILE = "caldera4j.json";
    public static final int FORMAT_VERSION = 1;

    /** Pretty, no HTML escaping: the file is for people too. Gson keeps insertion order, so output is deterministic. */
    public static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    /** True when {@code dir} holds a compressed checkpoint (a caldera4j.json). */
    public static boolean isCompressed(Path dir) {
        return Files.isRegularFile(dir.resolve(META_FILE));
    }

    // ------------------------------------------------------------------ writing

    /**
     * Adds the tensors of one compressed linear under prefix P and returns its caldera4j.json
     * entry (shape and configuration; stored bytes and bits/param from exactly the bytes added).
     * The caller adds proxy error, act_order and method details to the entry.
     */
    public static JsonObject addLinear(SafetensorsWriter w, String P, CompressedLinear cl) {
        QuantizedMatrix Q = cl.Q();
        long bytes = addQuantized(w, P, Q);
        JsonObject e = new JsonObject();
        e.addProperty("d_out", cl.dOut());
        e.addProperty("d_in", cl.dIn());
        e.addProperty("d_out_pad", Q.dOut());
        e.addProperty("d_in_pad", Q.dIn());
        e.addProperty("bq", Q.bits());
        e.addProperty("group", Q.group());
        e.addProperty("hadamard", cl.inc() != null);
        LowRank lr = cl.lr();
        e.addProperty("rank", lr == null ? 0 : lr.rank());
        if (lr != null) {
            e.addProperty("bl", lr.bl());
            e.addProperty("br", lr.br());
            if (lr.bl() == 16) bytes += add16(w, P + ".L", new long[] {lr.dOut(), lr.rank()}, lr.L16());
            else {
                e.addProperty("l_group", lr.Lq().group());
                bytes += addQuantized(w, P + ".L", lr.Lq());
            }
            if (lr.br() == 16) bytes += add16(w, P + ".R", new long[] {lr.rank(), lr.dIn()}, lr.R16());
            else {
                e.addProperty("r_group", lr.Rq().group());
                bytes += addQuantized(w, P + ".R", lr.Rq());
            }
        }
        Incoherence inc = cl.inc();
        if (inc != null) {
            w.add(P + ".su", DType.I8, new long[] {inc.dInPad()}, inc.su());
            w.add(P + ".sv", DType.I8, new long[] {inc.dOutPad()}, inc.sv());
            bytes += inc.dInPad() + inc.dOutPad();
        }
        float[] bias = cl.bias();
        if (bias != null) {
            DType dt = exactInF16(bias) ? DType.F16 : DType.F32;
            w.add(P + ".bias", dt, new long[] {bias.length}, bias);
            e.addProperty("bias", dt.name());
            bytes += (long) dt.bytes * bias.length;
        }
        e.addProperty("stored_bytes", bytes);
        e.addProperty("bits_per_param", bytes * 8.0 / ((double) cl.dOut() * cl.dIn()));
        return e;
    }

    private static long addQuantized(SafetensorsWriter w, String P, QuantizedMatrix Q) {
        w.add(P + ".qweight", DType.I32, new long[] {Q.dOut(), Packing.wordsPerRow(Q.dIn(), Q.bits())}, Q.qweight());
        long[] s = {Q.dOut(), Q.nGroups()};
        w.add(P + ".scales", DType.F16, s, Q.scales());
        w.add(P + ".zeros", DType.F16, s, Q.zeros());
        return Q.storedBytes();
    }

    private static long add16(SafetensorsWriter w, String name, long[] shape, float[] fp16Values) {
        if (!exactInF16(fp16Values))
            throw new IllegalArgumentException(name + ": a 16-bit factor must hold fp16-exact values (LowRank.toFp16)");
        w.add(name, DType.F16, shape, fp16Values);
        return 2L * fp16Values.length;
    }

    static boolean exactInF16(float[] a) {
        for (float v : a) if (Float.float16ToFloat(Float.floatToFloat16(v)) != v) return false;
        return true;
    }

    // ------------------------------------------------------------------ reading

    /** Reads caldera4j.json, checking the format version. */
    public static JsonObject readMeta(Path dir) {
        Path p = dir.resolve(META_FILE);
        JsonObject o;
        try {
            o = JsonParser.parseString(Files.readString(p)).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(p + " is not a JSON object (" + e.getMessage() + "): the checkpoint is corrupt", e);
        }
        int v = o.has("format_version") ? o.get("format_version").getAsInt() : -1;
        if (v != FORMAT_VERSION)
            throw new IllegalArgumentException(p + ": format_version " + v + " is not supported (this build reads "
                    + FORMAT_VERSION + "); compress the model again with this version");
        return o;
    }

    /**
     * Loads a compressed checkpoint directory as weights whose block linears are
     * {@link CompressedLinear} (the CPU forward pass runs them; dequantisation happens per call).
     */
    public static Qwen2Weights load(Path dir) {
        JsonObject meta = readMeta(dir);
        Qwen2Config c = Qwen2Config.load(dir.resolve("config.json"));
        JsonObject layers = meta.getAsJsonObject("layers");
        try (Checkpoint ck = Checkpoint.open(dir)) {
            Tensors t = new Tensors(dir, n -> ck.has(n) ? ck.file(n) : null);
            int h = c.hiddenSize();
            float[] embed = t.floats("model.embed_tokens.weight", c.vocabSize(), h);
            Qwen2Weights.Block[] blocks = new Qwen2Weights.Block[c.numLayers()];
            for (int l = 0; l < c.numLayers(); l++) blocks[l] = loadBlock(c, t, layers, l);
            float[] norm = t.floats("model.norm.weight", h);
            Linear head = !c.tieWordEmbeddings() && t.has("lm_head.weight")
                    ? new DenseLinear(t.floats("lm_head.weight", c.vocabSize(), h), null, c.vocabSize(), h, t.info("lm_head.weight").dtype().bytes)
                    : new DenseLinear(embed, null, c.vocabSize(), h, t.info("model.embed_tokens.weight").dtype().bytes);
            return new Qwen2Weights(c, embed, blocks, norm, head);
        }
    }

    /** Block {@code layer} from one safetensors file (a shard) whose layer entries are {@code layers}. */
    public static Qwen2Weights.Block loadBlock(Qwen2Config c, SafetensorsFile f, JsonObject layers, int layer) {
        return loadBlock(c, new Tensors(f.path(), n -> f.has(n) ? f : null), layers, layer);
    }

    static Qwen2Weights.Block loadBlock(Qwen2Config c, Tensors t, JsonObject layers, int layer) {
        int h = c.hiddenSize();
        String p = "model.layers." + layer + ".";
        int q = c.qDim(), kv = c.kvDim(), im = c.intermediateSize();
        int[][] shapes = {{q, h}, {kv, h}, {kv, h}, {h, q}, {im, h}, {im, h}, {h, im}};
        Linear[] lin = new Linear[7];
        for (int i = 0; i < 7; i++) {
            String P = p + Qwen2Weights.Block.LINEAR_NAMES[i];
            lin[i] = layers.has(P) ? readLinear(t, P, layers.getAsJsonObject(P), shapes[i][0], shapes[i][1])
                    : denseLinear(t, P, shapes[i][0], shapes[i][1]);
        }
        return new Qwen2Weights.Block(t.floats(p + "input_layernorm.weight", h), lin[0], lin[1], lin[2], lin[3],
                t.floats(p + "post_attention_layernorm.weight", h), lin[4], lin[5], lin[6]);
    }

    private static Linear denseLinear(Tensors t, String P, int dOut, int dIn) {
        if (!t.has(P + ".weight"))
            throw new IllegalArgumentException(t.where + ": linear " + P + " has neither a caldera4j.json entry with "
                    + P + ".qweight nor a dense " + P + ".weight — the checkpoint is incomplete; compress it again");
        float[] W = t.floats(P + ".weight", dOut, dIn);
        float[] b = t.has(P + ".bias") ? t.floats(P + ".bias", dOut) : null;
        return new DenseLinear(W, b, dOut, dIn, t.info(P + ".weight").dtype().bytes);
    }

    /** One compressed linear from its tensors and caldera4j.json entry; every dtype and shape is checked. */
    static CompressedLinear readLinear(Tensors t, String P, JsonObject e, int dOut, int dIn) {
        int eOut = e.get("d_out").getAsInt(), eIn = e.get("d_in").getAsInt();
        if (eOut != dOut || eIn != dIn)
            throw new IllegalArgumentException(t.where + ": caldera4j.json says " + P + " is (" + eOut + ", " + eIn
                    + ") but config.json implies (" + dOut + ", " + dIn + ") — the metadata and config disagree");
        int rows = e.get("d_out_pad").getAsInt(), cols = e.get("d_in_pad").getAsInt();
        QuantizedMatrix Q = readQuantized(t, P, rows, cols, e.get("bq").getAsInt(), e.get("group").getAsInt());
        LowRank lr = null;
        int rank = e.get("rank").getAsInt();
        if (rank > 0) {
            int bl = e.get("bl").getAsInt(), br = e.get("br").getAsInt();
            float[] L16 = bl == 16 ? t.f16(P + ".L", rows, rank) : null;
            QuantizedMatrix Lq = bl == 16 ? null : readQuantized(t, P + ".L", rows, rank, bl, e.get("l_group").getAsInt());
            float[] R16 = br == 16 ? t.f16(P + ".R", rank, cols) : null;
            QuantizedMatrix Rq = br == 16 ? null : readQuantized(t, P + ".R", rank, cols, br, e.get("r_group").getAsInt());
            lr = new LowRank(rows, cols, rank, bl, br, L16, R16, Lq, Rq);
        }
        Incoherence inc = null;
        if (e.get("hadamard").getAsBoolean()) {
            inc = new Incoherence(dIn, dOut, cols, rows, t.i8(P + ".su", cols), t.i8(P + ".sv", rows));
        } else if (rows != dOut || cols != dIn) {
            throw new IllegalArgumentException(t.where + ": " + P + " has padded dims (" + rows + ", " + cols
                    + ") without a Hadamard transform — caldera4j.json is inconsistent");
        }
        float[] bias = t.has(P + ".bias") ? t.floats(P + ".bias", dOut) : null;
        return new CompressedLinear(Q, lr, inc, bias);
    }

    private static QuantizedMatrix readQuantized(Tensors t, String P, int rows, int cols, int bits, int group) {
        if (group < 1 || cols % group != 0)
            throw new IllegalArgumentException(t.where + ": " + P + " has group " + group + ", which does not divide d_in′ = " + cols);
        int[] qweight = t.i32(P + ".qweight", rows, Packing.wordsPerRow(cols, bits));
        short[] scales = t.f16Bits(P + ".scales", rows, cols / group);
        short[] zeros = t.f16Bits(P + ".zeros", rows, cols / group);
        return new QuantizedMatrix(rows, cols, bits, group, qweight, scales, zeros);
    }

    /** Tensor lookup over a checkpoint or one shard, with dtype and shape checks that name the tensor. */
    record Tensors(Path where, Function<String, SafetensorsFile> fileOf) {
        boolean has(String n) {
            return fileOf.apply(n) != null;
        }

        TensorInfo info(String n) {
            SafetensorsFile f = fileOf.apply(n);
            if (f == null)
                throw new IllegalArgumentException(where + ": tensor '" + n + "' is missing — the compressed checkpoint is"
                        + " incomplete or not format v1; compress the model again");
            return f.info(n);
        }

        private SafetensorsFile check(String n, List<DType> dtypes, long... shape) {
            TensorInfo i = info(n);
            if (!dtypes.contains(i.dtype()))
                throw new IllegalArgumentException(where + ": tensor '" + n + "' is " + i.dtype() + ", format v1 stores it as "
                        + dtypes + " — not a caldera4j format v1 checkpoint");
            if (!Arrays.equals(i.shape(), shape))
                throw new IllegalArgumentException(where + ": tensor '" + n + "' has shape " + Arrays.toString(i.shape())
                        + ", expected " + Arrays.toString(shape) + " from config.json and caldera4j.json — they disagree");
            return fileOf.apply(n);
        }

        float[] floats(String n, long... shape) {
            return check(n, List.of(DType.BF16, DType.F16, DType.F32), shape).floats(n);
        }

        float[] f16(String n, long... shape) {
            return check(n, List.of(DType.F16), shape).floats(n);
        }

        short[] f16Bits(String n, long... shape) {
            return check(n, List.of(DType.F16), shape).shorts(n);
        }

        int[] i32(String n, long... shape) {
            return check(n, List.of(DType.I32), shape).ints(n);
        }

        byte[] i8(String n, long... shape) {
            return check(n, List.of(DType.I8), shape).bytes(n);
        }
    }

    // ------------------------------------------------------------------ summaries

    /**
     * Results-row fields that identify a compressed checkpoint (DESIGN's row vocabulary): method,
     * bq, group (−1 per channel), act_order, bl/br/rank/hadamard when used, per-matrix overrides
     * (compact, relative to the base settings), calib_seqs, calib_seqlen, bits_per_param (block linears).
     */
    public static Map<String, Object> rowFields(Path dir) {
        JsonObject meta = readMeta(dir);
        JsonObject m = meta.getAsJsonObject("method_config");
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("method", meta.get("method").getAsString());
        row.put("bq", m.get("bq").getAsInt());
        row.put("group", m.get("group").getAsInt());
        row.put("act_order", m.get("act_order").getAsBoolean());
        for (String k : List.of("bl", "br", "rank")) if (m.has(k)) row.put(k, m.get(k).getAsInt());
        if (m.has("hadamard")) row.put("hadamard", m.get("hadamard").getAsBoolean());
        if (m.has("overrides")) {
            // the row's bq/group/rank/bl/br are the base; the map lists what differs from it
            Overrides o = Overrides.fromJson(m.getAsJsonObject("overrides"));
            Overrides.Setting base = new Overrides.Setting(m.get("bq").getAsInt(), m.get("group").getAsInt(),
                    m.has("rank") ? m.get("rank").getAsInt() : 0, m.has("bl") ? m.get("bl").getAsInt() : 16, m.has("br") ? m.get("br").getAsInt() : 16);
            row.put("overrides", o.compact(base));
        }
        JsonElement cal = meta.get("calibration");
        if (cal != null && cal.isJsonObject()) {
            row.put("calib_seqs", cal.getAsJsonObject().get("seqs").getAsInt());
            row.put("calib_seqlen", cal.getAsJsonObject().get("seqlen").getAsInt());
        }
        row.put("bits_per_param", meta.getAsJsonObject("bits_per_param").get("linears").getAsDouble());
        return row;
    }

    /** The proxy errors of every compressed linear, name → tr(ΔHΔᵀ)/tr(WHWᵀ) (layers without one are absent). */
    public static Map<String, Double> proxyErrors(Path dir) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (var e : readMeta(dir).getAsJsonObject("layers").entrySet()) {
            JsonObject o = e.getValue().getAsJsonObject();
            if (o.has("proxy_error")) m.put(e.getKey(), o.get("proxy_error").getAsDouble());
        }
        return m;
    }
}
