package dev.caldera4j.calib;

import dev.caldera4j.TestData;
import dev.caldera4j.model.Qwen2Loader;
import dev.caldera4j.model.Qwen2Weights;
import dev.caldera4j.tokenizer.Tokenizer;
import dev.caldera4j.tokenizer.Tokenizers;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.XZInputStream;
import org.tukaani.xz.XZOutputStream;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/** Shared inputs of the calibration and format tests: the tiny model, its tokenizer, small corpora. */
public final class Fixtures {
    private Fixtures() {}

    public static final Path TINY = Path.of("data/models/tiny");

    private static Qwen2Weights tiny;
    private static Tokenizer tinyTokenizer;

    public static synchronized Qwen2Weights tiny() {
        if (tiny == null) tiny = Qwen2Loader.load(TINY);
        return tiny;
    }

    /** The tiny model's tokenizer, kept open for the test JVM's lifetime (it holds native memory). */
    public static synchronized Tokenizer tinyTokenizer() {
        if (tinyTokenizer == null) tinyTokenizer = Tokenizers.load(TINY);
        return tinyTokenizer;
    }

    private static final String[] WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
            + "they you were her she there been one all we their has would when if so no will more can said who what up its out into "
            + "time only other about some could them then now than first new two years these may people any like very after most made "
            + "river city king war church music film water island village north south west east century school station family").split(" ");

    /** {@code docs} documents of seeded word salad: sentences on lines, documents separated by blank lines. */
    public static String synthetic(long seed, int docs) {
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder();
        for (int d = 0; d < docs; d++) {
            if (d > 0) sb.append("\n\n");
            int lines = 3 + r.nextInt(30);
            for (int l = 0; l < lines; l++) {
                if (l > 0) sb.append('\n');
                int words = 5 + r.nextInt(60);
                for (int w = 0; w < words; w++) {
                    String word = WORDS[r.nextInt(WORDS.length)];
                    if (w == 0) word = Character.toUpperCase(word.charAt(0)) + word.substring(1);
                    sb.append(w == 0 ? "" : " ").append(word);
                    if (r.nextInt(12) == 0 && w + 1 < words) sb.append(',');
                }
                sb.append('.');
            }
        }
        return sb.append('\n').toString();
    }

    /** A corpus directory holding one .txt.xz of synthetic documents (exercises the xz path). */
    public static Path syntheticCorpus(Path dir, long seed, int docs) throws IOException {
        Files.createDirectories(dir);
        Path f = dir.resolve("synthetic.txt.xz");
        try (OutputStream out = new XZOutputStream(Files.newOutputStream(f), new LZMA2Options())) {
            out.write(synthetic(seed, docs).getBytes(StandardCharsets.UTF_8));
        }
        return dir;
    }

    /** The first {@code bytes} of the shared corpus's wikipedia_00 (streamed: only that much is decompressed); skipped when absent. */
    public static String naturalText(int bytes) throws IOException {
        Path p = TestData.sharedData("train/corpus/wikipedia_00.txt.xz");
        try (InputStream in = new XZInputStream(Files.newInputStream(p))) {
            String s = new String(in.readNBytes(bytes), StandardCharsets.UTF_8);
            return s.substring(0, s.lastIndexOf('\n') + 1); // whole lines only
        }
    }

    /** (n, T) token ids uniform in [0, vocab). */
    public static int[][] randomTokens(long seed, int n, int T, int vocab) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][] t = new int[n][T];
        for (int[] row : t) for (int i = 0; i < T; i++) row[i] = r.nextInt(vocab);
        return t;
    }
}
