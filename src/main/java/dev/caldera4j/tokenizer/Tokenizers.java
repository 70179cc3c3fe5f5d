package dev.caldera4j.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** Picks the tokenizer of a model directory by the files in it. */
public final class Tokenizers {

    private Tokenizers() {}

    /** Closes a tokenizer that holds native memory (HfTokenizer); a failure is only worth a warning at the end of a run. */
    public static void close(Tokenizer tok) {
        if (tok instanceof AutoCloseable a) {
            try {
                a.close();
            } catch (Exception ex) {
                System.getLogger(Tokenizers.class.getName()).log(System.Logger.Level.WARNING, "could not close the tokenizer: " + ex);
            }
        }
    }

    /**
     * tokenizer.json → {@link HfTokenizer} (bos/eos from the config files beside it); else
     * tokenizer.bin, else tok512.bin, else a single tok&lt;N&gt;.bin → {@link Llama2cTokenizer}. The
     * caller closes an HfTokenizer (it holds native memory): check {@code instanceof AutoCloseable}.
     */
    public static Tokenizer load(Path modelDir) {
        if (!Files.isDirectory(modelDir)) {
            throw new IllegalArgumentException(modelDir + " is not a directory; pass the model directory "
                    + "(HfTokenizer.load or Llama2cTokenizer.load take a tokenizer file directly)");
        }
        Path json = modelDir.resolve("tokenizer.json");
        if (Files.isRegularFile(json)) return HfTokenizer.load(json);
        for (String name : new String[] {"tokenizer.bin", "tok512.bin"}) {
            Path bin = modelDir.resolve(name);
            if (Files.isRegularFile(bin)) return Llama2cTokenizer.load(bin);
        }
        List<Path> toks;
        try (Stream<Path> files = Files.list(modelDir)) {
            toks = files.filter(p -> p.getFileName().toString().matches("tok[0-9]+\\.bin")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + modelDir + ": " + e.getMessage(), e);
        }
        if (toks.size() == 1) return Llama2cTokenizer.load(toks.getFirst());
        String hint = Files.isRegularFile(modelDir.resolve("vocab.json")) && Files.isRegularFile(modelDir.resolve("merges.txt"))
                ? "; it has vocab.json + merges.txt: for Qwen2 write a tokenizer.json with "
                  + "Qwen2TokenizerBuilder.write(vocab.json, merges.txt, out) and load that with HfTokenizer.load"
                : "";
        throw new IllegalArgumentException("no tokenizer in " + modelDir + ": looked for tokenizer.json (HF tokenizers), "
                + "tokenizer.bin, tok512.bin or one tok<N>.bin (llama2.c)"
                + (toks.size() > 1 ? "; found several tok<N>.bin " + toks + ", load one with Llama2cTokenizer.load" : "")
                + hint);
    }
}
