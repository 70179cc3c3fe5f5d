package dev.caldera4j.calib;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.caldera4j.cli.Main;
import dev.caldera4j.format.CompressedCheckpoint;
import dev.caldera4j.io.DType;
import dev.caldera4j.io.SafetensorsFile;
import dev.caldera4j.io.TensorInfo;
import dev.caldera4j.model.DenseLinear;
import dev.caldera4j.model.HfWriter;
import dev.caldera4j.model.Linear;
import dev.caldera4j.model.Models;
import dev.caldera4j.model.Qwen2Model;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.quant.CompressedLinear;
import dev.caldera4j.quant.QuantConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import dev.caldera4j.quant.CalderaConfig;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The compressed checkpoint as the compress command writes it: same forward as the in-memory
 * pipeline, DESIGN's layout, byte-identical reruns, kill -9 and resume, bad input.
 */
@ExtendWith(SingleThreadBlas.class)
class CheckpointCompressorTest {

    @TempDir
    static Path tmp;
    static Path corpus;
    /** The reference run: GPTQ 2-bit (act-order, the default at 2 bits), group 32, 4 × 64 calibration tokens, seed 0. */
    static Path clean;

    static final CompressSpec SPEC = CompressSpec.gptq(QuantConfig.of(2, 32));

    static CheckpointCompressor.Job job(Path out, long seed) {
        return new CheckpointCompressor.Job(Fixtures.TINY, out, SPEC, new CheckpointCompressor.Calibration(corpus, 4, 64, seed));
    }

    @BeforeAll
    static void cleanRun() throws Exception {
        corpus = Fixtures.syntheticCorpus(tmp.resolve("corpus"), 9, 40);
        clean = tmp.resolve("clean");
        CheckpointCompressor.run(job(clean, 0), null);
    }

    @Test
    void loadsAsTheInMemoryPipelineComputesIt() {
        CalibrationData cd = CalibrationData.sample(Corpus.load(corpus), Fixtures.tinyTokenizer(), 4, 64, 0);
        var mem = SequentialCompressor.compress(Fixtures.tiny(), cd.tokens(), SPEC.compressor(), false, null);
        Qwen2Weights disk = CompressedCheckpoint.load(clean);
        for (int l = 0; l < 4; l++) {
            Linear[] a = mem.weights().layers()[l].linears(), b = disk.layers()[l].linears();
            for (int i = 0; i < 7; i++) {
                assertInstanceOf(CompressedLinear.class, b[i]);
                assertArrayEquals(((CompressedLinear) a[i]).Q().qweight(), ((CompressedLinear) b[i]).Q().qweight(), "layer " + l + " linear " + i);
                assertArrayEquals(a[i].denseWeight(), b[i].denseWeight(), "layer " + l + " linear " + i + " dequantised");
            }
        }
        int[] text = Fixtures.randomTokens(2, 1, 40, 4096)[0];
        assertArrayEquals(new Qwen2Model(mem.weights()).logits(text), new Qwen2Model(disk).logits(text), "identical forward");
        assertArrayEquals(new Qwen2Model(disk).logits(text), Models.load(clean).logits(text), "Models.load recognises the checkpoint");
        var proxy = CompressedCheckpoint.proxyErrors(clean);
        assertEquals(28, proxy.size());
        for (int i = 0; i < 28; i++)
            assertEquals(mem.linears().get(i).proxyError(), proxy.get(SequentialCompressor.linearName(i / 7, i % 7)), 0.0);
    }

    @Test
    void layoutIsFormatV1() throws Exception {
        Map<String, String> layer1 = new TreeMap<>();
        try (Stream<Path> files = Files.list(clean)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".safetensors")).toList()) {
                try (SafetensorsFile sf = SafetensorsFile.open(f)) {
                    for (String n : sf.names()) {
                        TensorInfo i = sf.info(n);
                        if (n.startsWith("model.layers.1.")) layer1.put(n, i.dtype() + Arrays.toString(i.shape()));
                    }
                }
            }
        }
        Map<String, String> expect = new TreeMap<>();
        String p = "model.layers.1.";
        expect.put(p + "input_layernorm.weight", "BF16[128]");
        expect.put(p + "post_attention_layernorm.weight", "BF16[128]");
        String[][] lin = {{"self_attn.q_proj", "128", "128"}, {"self_attn.k_proj", "64", "128"}, {"self_attn.v_proj", "64", "128"},
                {"self_attn.o_proj", "128", "128"}, {"mlp.gate_proj", "384", "128"}, {"mlp.up_proj", "384", "128"}, {"mlp.down_proj", "128", "384"}};
        for (String[] l : lin) {
            int dOut = Integer.parseInt(l[1]), dIn = Integer.parseInt(l[2]);
            expect.put(p + l[0] + ".qweight", "I32[" + dOut + ", " + dIn * 2 / 32 + "]");
            expect.put(p + l[0] + ".scales", "F16[" + dOut + ", " + dIn / 32 + "]");
            expect.put(p + l[0] + ".zeros", "F16[" + dOut + ", " + dIn / 32 + "]");
        }
        // Qwen2's q/k/v biases are bf16: every bf16 in fp16's normal range is an fp16, so F16 holds them exactly
        for (String b : new String[] {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"})
            expect.put(p + b + ".bias", "F16[" + (b.contains("q_") ? 128 : 64) + "]");
        assertEquals(expect, layer1);

        JsonObject meta = JsonParser.parseString(Files.readString(clean.resolve("caldera4j.json"))).getAsJsonObject();
        assertEquals(1, meta.get("format_version").getAsInt());
        assertEquals("gptq", meta.get("method").getAsString());
        JsonObject e = meta.getAsJsonObject("layers").getAsJsonObject("model.layers.1.mlp.down_proj");
        assertEquals(2, e.get("bq").getAsInt());
        assertEquals(32, e.get("group").getAsInt());
        assertTrue(e.get("act_order").getAsBoolean());
        assertEquals(2 + 32.0 / 32, e.get("bits_per_param").getAsDouble(), 1e-12, "bq + 32/group, no bias");
        assertTrue(e.get("proxy_error").getAsDouble() > 0 && e.get("proxy_error").getAsDouble() < 1);
        assertFalse(Files.readString(clean.resolve("caldera4j.json")).matches("(?s).*20\\d\\d-\\d\\d-\\d\\dT.*"), "no timestamps");
        // unchanged tensors and files are byte copies of the source
        try (SafetensorsFile src = SafetensorsFile.open(Fixtures.TINY.resolve("model.safetensors"));
             SafetensorsFile s0 = SafetensorsFile.open(clean.resolve("model-00001-of-00005.safetensors"))) {
            for (String n : List.of("model.embed_tokens.weight", "model.norm.weight"))
                assertArrayEquals(src.segment(n).toArray(ValueLayout.JAVA_BYTE), s0.segment(n).toArray(ValueLayout.JAVA_BYTE), n);
        }
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json"))
            assertArrayEquals(Files.readAllBytes(Fixtures.TINY.resolve(f)), Files.readAllBytes(clean.resolve(f)), f);
        assertTrue(Files.isRegularFile(clean.resolve(CheckpointCompressor.RUN_LOG)));
        assertFalse(Files.exists(clean.resolve(CheckpointCompressor.SPEC_FILE)));
        assertTrue(CheckpointCompressor.compressSeconds(clean) > 0);
    }

    @Test
    void sameSeedIsByteIdenticalOtherSeedIsNot() throws Exception {
        Path again = tmp.resolve("again");
        CheckpointCompressor.run(job(again, 0), null);
        assertSameBytes(clean, again);
        Path seed1 = tmp.resolve("seed1");
        CheckpointCompressor.run(job(seed1, 1), null);
        assertFalse(Arrays.equals(Files.readAllBytes(clean.resolve("model-00003-of-00005.safetensors")),
                Files.readAllBytes(seed1.resolve("model-00003-of-00005.safetensors"))), "other calibration, other codes");
    }

    @Test
    void killMinus9ThenResumeGivesTheSameBytes() throws Exception {
        Path out = tmp.resolve("killed");
        List<String> cmd = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()),
                "-Xmx512m", "--enable-native-access=ALL-UNNAMED",
                "-D" + CheckpointCompressor.PAUSE_PROPERTY + "=1"));
        for (String prop : List.of("org.bytedeco.javacpp.cachedir", "ENGINE_CACHE_DIR"))
            if (System.getProperty(prop) != null) cmd.add("-D" + prop + "=" + System.getProperty(prop));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "dev.caldera4j.cli.Main", "compress",
                "--model", Fixtures.TINY.toString(), "--method", "gptq", "--bits", "2", "--group", "32",
                "--calib-seqs", "4", "--calib-seqlen", "64", "--seed", "0", "--corpus", corpus.toString(), "--out", out.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("OPENBLAS_NUM_THREADS", "1");
        Process child = pb.start();
        try {
            CompletableFuture<Boolean> paused = CompletableFuture.supplyAsync(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getErrorStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; )
                        if (line.startsWith(CheckpointCompressor.PAUSE_MARKER + "1")) return true;
                    return false;
                } catch (java.io.IOException e) {
                    return false;
                }
            });
            assertTrue(paused.get(120, TimeUnit.SECONDS), "the child reached the pause after layer 1");
        } finally {
            child.destroyForcibly(); // SIGKILL on Unix: no shutdown hooks, no finally blocks
        }
        assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        assertEquals(137, child.exitValue(), "killed by SIGKILL (128 + 9)");
        Path partial = tmp.resolve("killed.partial");
        assertFalse(Files.exists(out), "nothing at --out until the run completes");
        assertTrue(Files.exists(partial.resolve("model-00003-of-00005.safetensors")), "layers 0 and 1 were written");
        assertFalse(Files.exists(partial.resolve("model-00004-of-00005.safetensors")));
        Files.writeString(partial.resolve(".model-00004-of-00005.safetensors.1234.tmp"), "a write the kill cut short");

        var s = CheckpointCompressor.run(job(out, 0), null);
        assertEquals(2, s.layersResumed());
        assertSameBytes(clean, out);
        assertTrue(Files.readString(out.resolve(CheckpointCompressor.RUN_LOG)).contains("\"event\":\"resume\""));
    }

    @Test
    void badInputFailsClearlyAndWritesNothing() throws Exception {
        Path bad = copyTiny(tmp.resolve("gpt2"));
        Files.writeString(bad.resolve("config.json"), Files.readString(bad.resolve("config.json")).replace("\"qwen2\"", "\"gpt2\""));
        expectFailure(bad, SPEC, "model_type 'gpt2'");

        Path shape = copyTiny(tmp.resolve("shape"));
        Files.writeString(shape.resolve("config.json"), Files.readString(shape.resolve("config.json"))
                .replace("\"intermediate_size\": 384", "\"intermediate_size\": 512"));
        expectFailure(shape, SPEC, "model.layers.0.mlp.gate_proj.weight' has shape [384, 128] but config.json implies [512, 128]");

        Path nan = tmp.resolve("nan");
        Qwen2Weights w = Fixtures.tiny();
        Linear up = w.layers()[2].up();
        float[] W = up.denseWeight().clone();
        W[77] = Float.NaN;
        Linear[] lin = w.layers()[2].linears();
        lin[5] = new DenseLinear(W, null, up.dOut(), up.dIn());
        HfWriter.write(w.withBlock(2, w.layers()[2].withLinears(lin)), nan, DType.BF16);
        Files.copy(Fixtures.TINY.resolve("tokenizer.json"), nan.resolve("tokenizer.json"));
        expectFailure(nan, SPEC, "model.layers.2.mlp.up_proj.weight' holds a non-finite value (NaN)");

        expectFailure(Fixtures.TINY, CompressSpec.gptq(QuantConfig.of(2, 48)), "not a multiple of group=48");
        expectFailure(Fixtures.TINY, CompressSpec.gptq(QuantConfig.of(3, 100)), "group=100");
        expectFailure(clean, SPEC, "already a compressed checkpoint");

        var exists = assertThrows(IllegalArgumentException.class, () -> CheckpointCompressor.run(job(clean, 0), null));
        assertTrue(exists.getMessage().contains("already exists"), exists.getMessage());

        var noCalib = assertThrows(IllegalArgumentException.class, () -> CheckpointCompressor.run(
                new CheckpointCompressor.Job(Fixtures.TINY, tmp.resolve("nocal"), SPEC, null), null));
        assertTrue(noCalib.getMessage().contains("needs calibration"), noCalib.getMessage());
        assertFalse(Files.exists(tmp.resolve("nocal.partial")));

        // a half-finished run with other settings is never mixed into this one
        Path other = tmp.resolve("other");
        Files.createDirectories(tmp.resolve("other.partial"));
        Files.writeString(tmp.resolve("other.partial").resolve(CheckpointCompressor.SPEC_FILE), "{\"method\": \"rtn\"}\n");
        var mixed = assertThrows(IllegalArgumentException.class, () -> CheckpointCompressor.run(job(other, 0), null));
        assertTrue(mixed.getMessage().contains("different settings"), mixed.getMessage());
    }

    @Test
    void cliCompressesAndReportsErrorsInOneLine() throws Exception {
        Path out = tmp.resolve("cli-rtn");
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream o = new ByteArrayOutputStream(), e = new ByteArrayOutputStream();
        int ok, bad;
        try {
            System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
            ok = Main.run("compress", "--model", Fixtures.TINY.toString(), "--method", "rtn", "--bits", "4", "--group", "-1",
                    "--out", out.toString());
            bad = Main.run("compress", "--model", Fixtures.TINY.toString(), "--method", "awq", "--out", tmp.resolve("x").toString());
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        assertEquals(0, ok, e.toString(StandardCharsets.UTF_8));
        // per layer: 196,608 weights at 4 bits, 1,280 rows × 32 bits of scale+zero, 256 bf16 biases as fp16: 831,488 bits
        assertTrue(o.toString(StandardCharsets.UTF_8).contains("bits/param: linears 4.2292"), o.toString(StandardCharsets.UTF_8));
        var row = CompressedCheckpoint.rowFields(out);
        assertEquals("rtn", row.get("method"));
        assertEquals(-1, row.get("group"));
        assertFalse(row.containsKey("calib_seqs"), "RTN ran data-free");
        assertEquals(2, bad);
        assertTrue(e.toString(StandardCharsets.UTF_8).contains("method 'awq' is unknown"), e.toString(StandardCharsets.UTF_8));
    }

    private static void expectFailure(Path model, CompressSpec spec, String message) {
        Path out = tmp.resolve("fail-" + Math.abs((model.toString() + spec).hashCode()));
        var e = assertThrows(IllegalArgumentException.class, () -> CheckpointCompressor.run(
                new CheckpointCompressor.Job(model, out, spec, new CheckpointCompressor.Calibration(corpus, 2, 32, 0)), null));
        assertTrue(e.getMessage().contains(message), e.getMessage());
        assertFalse(Files.exists(out), "no output for bad input");
        assertFalse(Files.exists(out.resolveSibling(out.getFileName() + ".partial")), "not even a partial directory");
    }

    private static Path copyTiny(Path dir) throws Exception {
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"))
            Files.copy(Fixtures.TINY.resolve(f), dir.resolve(f));
        return dir;
    }

    /** Every file but the run log, byte for byte. */
    /** method caldera end to end: Q + L·R layers written, read back and run; the low-rank term lowers the proxy error. */
    @Test
    void calderaCheckpointRoundTripsAndBeatsItsOwnQGrid() throws Exception {
        QuantConfig q = QuantConfig.of(2, 128);
        CalderaConfig cc = CalderaConfig.of(16, 4, 4).withQ(2, 128).withActOrder(q.actOrder()).withIters(3, 3);
        Path cal = tmp.resolve("caldera"), gp = tmp.resolve("gptq128");
        CheckpointCompressor.run(new CheckpointCompressor.Job(Fixtures.TINY, cal, new CompressSpec("caldera", q, false, cc),
                new CheckpointCompressor.Calibration(corpus, 4, 64, 0)), null);
        CheckpointCompressor.run(new CheckpointCompressor.Job(Fixtures.TINY, gp, CompressSpec.gptq(q),
                new CheckpointCompressor.Calibration(corpus, 4, 64, 0)), null);
        var weights = dev.caldera4j.format.CompressedCheckpoint.load(cal);
        for (var block : weights.layers()) {
            for (var lin : block.linears()) {
                var cl = assertInstanceOf(dev.caldera4j.quant.CompressedLinear.class, lin);
                assertNotNull(cl.lr(), "every CALDERA layer carries L·R");
                assertEquals(16, cl.lr().rank());
            }
        }
        float[] logits = new dev.caldera4j.model.Qwen2Model(weights).logits(new int[] {1, 2, 3, 4});
        for (float v : logits) assertTrue(Float.isFinite(v));
        double calMean = dev.caldera4j.format.CompressedCheckpoint.proxyErrors(cal).values().stream().mapToDouble(d -> d).average().orElseThrow();
        double gpMean = dev.caldera4j.format.CompressedCheckpoint.proxyErrors(gp).values().stream().mapToDouble(d -> d).average().orElseThrow();
        assertTrue(calMean < gpMean, "mean proxy error CALDERA " + calMean + " vs GPTQ on the same Q grid " + gpMean);
        var meta = dev.caldera4j.format.CompressedCheckpoint.readMeta(cal);
        assertEquals("caldera", meta.get("method").getAsString());
        assertEquals(16, meta.getAsJsonObject("method_config").get("rank").getAsInt());
    }

    static void assertSameBytes(Path a, Path b) throws Exception {
        List<String> na = names(a), nb = names(b);
        assertEquals(na, nb);
        for (String n : na) assertArrayEquals(Files.readAllBytes(a.resolve(n)), Files.readAllBytes(b.resolve(n)), n);
    }

    private static List<String> names(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.equals(CheckpointCompressor.RUN_LOG)).sorted().toList();
        }
    }
}
