package dev.caldera4j.calib;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.caldera4j.tokenizer.Tokenizer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Calibration windows: {@code seqs} sequences of {@code seqlen} token ids from the training corpus,
 * drawn with a seed, so the same corpus, tokenizer, seed and sizes always give the same tokens.
 *
 * <p>How a window is drawn (GPTQ draws random documents of its C4 training shard and a random
 * token offset in each; this is the same idea on a corpus of very unequal documents):
 * <ol>
 *   <li>u uniform over every byte of every document (blank separator lines excluded), so windows
 *       follow the text volume as training did: long books and short articles each in proportion;</li>
 *   <li>back up to the start of the line (paragraph) holding u, so a window starts at a paragraph
 *       start, never in mid-word;</li>
 *   <li>tokenize a chunk of the document from there, initially {@code 8·seqlen + 64} bytes and
 *       doubled until it yields at least seqlen + {@link #MARGIN} tokens or reaches the document's
 *       end; take its first seqlen tokens (the margin keeps the chunk's cut, which may tokenize
 *       differently from the running text, out of the window);</li>
 *   <li>if the rest of the document has fewer than seqlen tokens, draw again (windows never
 *       cross documents). This favours long documents slightly; with seqlen 2048 on the shared
 *       corpus (Wikipedia articles of ~17 KB on average, whole books) few draws are rejected.</li>
 * </ol>
 * No BOS token is added (the evaluation protocol adds none either). Random numbers come from
 * {@link SplittableRandom}(seed), whose algorithm (SplitMix64) is fixed by its specification.
 *
 * @param seqs    number of windows
 * @param seqlen  tokens per window
 * @param seed    the seed they were drawn with
 * @param source  what they were drawn from (corpus file names)
 * @param tokens  (seqs, seqlen) token ids
 */
public record CalibrationData(int seqs, int seqlen, long seed, List<String> source, int[][] tokens) {

    /** Tokens beyond seqlen a chunk must yield before its first seqlen tokens are trusted (see class comment). */
    public static final int MARGIN = 8;

    /** Draws per window before giving up: a corpus this poor in long documents cannot serve the seqlen. */
    private static final int MAX_DRAWS_PER_WINDOW = 200;

    public CalibrationData {
        if (seqs < 1 || seqlen < 1)
            throw new IllegalArgumentException("calibration needs seqs ≥ 1 and seqlen ≥ 1, got seqs=" + seqs + ", seqlen=" + seqlen);
        if (tokens.length != seqs)
            throw new IllegalArgumentException("calibration: " + tokens.length + " windows, expected seqs=" + seqs);
        for (int[] t : tokens)
            if (t.length != seqlen) throw new IllegalArgumentException("calibration: a window has " + t.length + " tokens, expected seqlen=" + seqlen);
        source = List.copyOf(source);
    }

    /** Draws {@code seqs} windows of {@code seqlen} tokens (see the class comment for how). */
    public static CalibrationData sample(Corpus corpus, Tokenizer tokenizer, int seqs, int seqlen, long seed) {
        if (seqs < 1 || seqlen < 1)
            throw new IllegalArgumentException("calibration needs --calib-seqs ≥ 1 and --calib-seqlen ≥ 1, got "
                    + seqs + " and " + seqlen);
        if (corpus.documentBytes() == 0)
            throw new IllegalArgumentException("the calibration corpus " + corpus.names() + " holds no text");
        SplittableRandom rnd = new SplittableRandom(seed);
        int[][] tokens = new int[seqs][];
        long draws = 0, maxDraws = (long) MAX_DRAWS_PER_WINDOW * seqs;
        for (int s = 0; s < seqs; ) {
            if (draws++ >= maxDraws)
                throw new IllegalArgumentException("calibration: after " + maxDraws + " draws only " + s + " of " + seqs
                        + " windows of " + seqlen + " tokens were found in " + corpus.names()
                        + " — its documents are too short for this seqlen; use a shorter --calib-seqlen or a larger corpus");
            long u = rnd.nextLong(corpus.documentBytes());
            int d = corpus.documentAt(u);
            Corpus.Document doc = corpus.documents().get(d);
            int start = corpus.lineStart(doc, (int) corpus.offsetInFile(d, u));
            int[] window = window(corpus, tokenizer, doc, start, seqlen);
            if (window != null) tokens[s++] = window;
        }
        return new CalibrationData(seqs, seqlen, seed, corpus.names(), tokens);
    }

    /** The first seqlen tokens of the document from byte {@code start}, or null when fewer remain. */
    private static int[] window(Corpus corpus, Tokenizer tokenizer, Corpus.Document doc, int start, int seqlen) {
        long len = 8L * seqlen + 64;
        while (true) {
            int n = (int) Math.min(len, doc.end() - start);
            boolean toEnd = start + n == doc.end();
            int[] ids = tokenizer.encode(corpus.text(doc.file(), start, n));
            if (ids.length >= seqlen + MARGIN || (toEnd && ids.length >= seqlen)) return Arrays.copyOf(ids, seqlen);
            if (toEnd) return null;
            len *= 2;
        }
    }

    /** SHA-256 of the tokens as little-endian int32 in (seq, position) order: pins the exact windows. */
    public String sha256() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            ByteBuffer b = ByteBuffer.allocate(4 * seqlen).order(ByteOrder.LITTLE_ENDIAN);
            for (int[] t : tokens) {
                b.clear();
                for (int id : t) b.putInt(id);
                md.update(b.array(), 0, b.position());
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** For caldera4j.json: source files, seqs, seqlen, seed, sampling rule and the tokens' SHA-256. */
    public JsonObject describe() {
        JsonObject o = new JsonObject();
        JsonArray files = new JsonArray();
        source.forEach(files::add);
        o.add("source", files);
        o.addProperty("seqs", seqs);
        o.addProperty("seqlen", seqlen);
        o.addProperty("seed", seed);
        o.addProperty("sampling", "uniform byte of the documents, back to its line start, first seqlen tokens of the document"
                + " from there (chunk margin " + MARGIN + " tokens), redraw when too short; SplittableRandom(seed); no BOS");
        o.addProperty("tokens_sha256", sha256());
        return o;
    }
}
