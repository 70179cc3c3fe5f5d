package dev.caldera4j.model;

import dev.caldera4j.format.CompressedCheckpoint;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Opens whatever the user points at: a compressed checkpoint (format v1, caldera4j.json present), an HF
 * checkpoint directory or a llama2.c .bin file.
 */
public final class Models {
    private Models() {}

    public static Qwen2Model load(Path path) {
        if (Files.isRegularFile(path) && path.getFileName().toString().endsWith(".bin")) {
            return new Qwen2Model(Llama2c.load(path));
        }
        if (Files.isDirectory(path)) {
            if (CompressedCheckpoint.isCompressed(path)) {
                return new Qwen2Model(CompressedCheckpoint.load(path));
            }
            if (Files.isRegularFile(path.resolve("config.json"))) return new Qwen2Model(Qwen2Loader.load(path));
            try (var s = Files.list(path)) {
                Path bin = s.filter(p -> p.getFileName().toString().endsWith(".bin")
                        && !p.getFileName().toString().startsWith("tok")).findFirst().orElse(null);
                if (bin != null) return new Qwen2Model(Llama2c.load(bin));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
        throw new IllegalArgumentException(path + " is neither an HF model directory (config.json + *.safetensors)"
                + " nor a llama2.c checkpoint (.bin): pass one of those");
    }
}
