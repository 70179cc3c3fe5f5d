package dev.caldera4j.model;

import dev.caldera4j.io.DType;
import dev.caldera4j.io.SafetensorsWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Writes dense {@link Qwen2Weights} as an HF checkpoint directory (config.json + model.safetensors). */
public final class HfWriter {
    private HfWriter() {}

    /**
     * Writes {@code dir}/config.json and {@code dir}/model.safetensors (tensors at {@code dtype}); the
     * directory may exist. Both files are written through temp files and renamed, so a crash leaves
     * either the old files or the new ones.
     */
    public static void write(Qwen2Weights w, Path dir, DType dtype) {
        Qwen2Config c = w.config();
        try {
            Files.createDirectories(dir);
            SafetensorsWriter sw = new SafetensorsWriter();
            long h = c.hiddenSize();
            sw.add("model.embed_tokens.weight", dtype, new long[] {c.vocabSize(), h}, w.embed());
            for (int l = 0; l < c.numLayers(); l++) {
                Qwen2Weights.Block b = w.layers()[l];
                String p = "model.layers." + l + ".";
                sw.add(p + "input_layernorm.weight", dtype, new long[] {h}, b.inputNorm());
                sw.add(p + "post_attention_layernorm.weight", dtype, new long[] {h}, b.postNorm());
                Linear[] lin = b.linears();
                for (int i = 0; i < lin.length; i++) {
                    String name = p + Qwen2Weights.Block.LINEAR_NAMES[i];
                    sw.add(name + ".weight", dtype, new long[] {lin[i].dOut(), lin[i].dIn()}, lin[i].denseWeight());
                    if (lin[i].bias() != null) sw.add(name + ".bias", dtype, new long[] {lin[i].dOut()}, lin[i].bias());
                }
            }
            sw.add("model.norm.weight", dtype, new long[] {h}, w.finalNorm());
            if (!c.tieWordEmbeddings()) {
                sw.add("lm_head.weight", dtype, new long[] {c.vocabSize(), h}, w.lmHead().denseWeight());
            }
            sw.metadata("format", "pt");
            sw.write(dir.resolve("model.safetensors"));
            var cfg = c.toJson();
            cfg.addProperty("torch_dtype", switch (dtype) {
                case F32 -> "float32";
                case F16 -> "float16";
                default -> "bfloat16";
            });
            Path tmp = dir.resolve("config.json.tmp");
            Files.writeString(tmp, new com.google.gson.GsonBuilder().setPrettyPrinting().create().toJson(cfg) + "\n");
            Files.move(tmp, dir.resolve("config.json"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint to " + dir + ": " + e.getMessage(), e);
        }
    }
}
