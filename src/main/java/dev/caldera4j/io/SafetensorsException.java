package dev.caldera4j.io;

import java.nio.file.Path;

/**
 * A safetensors file or checkpoint directory that cannot be read or written as asked.
 *
 * <p>The message is always {@code "<file>: tensor '<name>': <problem> (<hint>)"}, the tensor part
 * left out for errors about the whole file (a truncated file, a malformed header).
 */
public final class SafetensorsException extends RuntimeException {
    private final transient Path file;
    private final String tensor;

    public SafetensorsException(Path file, String tensor, String problem, String hint) {
        this(file, tensor, problem, hint, null);
    }

    public SafetensorsException(Path file, String tensor, String problem, String hint, Throwable cause) {
        super(file + ": " + (tensor == null ? "" : "tensor '" + tensor + "': ") + problem
                + (hint == null ? "" : " (" + hint + ")"), cause);
        this.file = file;
        this.tensor = tensor;
    }

    /** The file (or checkpoint directory) concerned. */
    public Path file() {
        return file;
    }

    /** The tensor concerned, or null for an error about the whole file. */
    public String tensor() {
        return tensor;
    }
}
