package dev.caldera4j.eval;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.caldera4j.tokenizer.Tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Test access to ../shared: the eval data and standin-small's tokenizer, skipping when absent. */
final class SharedData {
    private SharedData() {}

    static Path shared() {
        return Path.of(System.getProperty("caldera4j.shared", "../shared"));
    }

    /** The eval directory, or a skipped test naming the missing file. */
    static Path evalDir(String relativeFile) {
        Path dir = EvalData.defaultDir();
        assumeTrue(Files.isRegularFile(dir.resolve(relativeFile)),
                "shared eval data " + dir.resolve(relativeFile) + " is absent; skipping");
        return dir;
    }

    static Path standinTokenizerJson() {
        Path p = shared().resolve("data/models/standin-small/tokenizer.json");
        assumeTrue(Files.isRegularFile(p), "standin-small tokenizer " + p + " is absent; skipping");
        return p;
    }

    /**
     * standin-small's tokenizer.json through DJL directly (the project's own tokenizer package is
     * written in parallel; this is the reference implementation it must match). No special tokens,
     * no truncation.
     */
    static synchronized Tokenizer standinTokenizer() {
        if (standin == null) {
            standin = loadStandinTokenizer();
        }
        return standin;
    }

    private static Tokenizer standin;

    private static Tokenizer loadStandinTokenizer() {
        HuggingFaceTokenizer hf;
        try {
            // DJL truncates to 512 tokens unless told not to: the whole WikiText-2 text is one call
            hf = HuggingFaceTokenizer.builder().optTokenizerPath(standinTokenizerJson())
                    .optAddSpecialTokens(false).optTruncation(false).build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Tokenizer() {
            @Override
            public int[] encode(String text) {
                long[] ids = hf.encode(text, false, false).getIds();
                int[] out = new int[ids.length];
                for (int i = 0; i < ids.length; i++) {
                    out[i] = Math.toIntExact(ids[i]);
                }
                return out;
            }

            @Override
            public String decode(int[] ids) {
                long[] l = new long[ids.length];
                for (int i = 0; i < ids.length; i++) {
                    l[i] = ids[i];
                }
                return hf.decode(l, true);
            }

            @Override
            public int vocabSize() {
                return 8192;
            }

            @Override
            public int bosId() {
                return -1;
            }

            @Override
            public int eosId() {
                return 0;
            }
        };
    }
}
