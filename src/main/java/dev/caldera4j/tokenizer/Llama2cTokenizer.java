package dev.caldera4j.tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * karpathy's llama2.c tokenizer ({@code tokenizer.bin}, {@code tok512.bin}): a SentencePiece BPE
 * vocabulary flattened to (score, bytes) per id, encoded and decoded exactly as run.c does it.
 *
 * <p>File: int32 max_token_length, then per id: float32 score, int32 len, len bytes; little-endian,
 * to the end of the file. Ids 0, 1, 2 are &lt;unk&gt;, BOS, EOS; ids 3..258 are the byte pieces
 * "&lt;0x00&gt;".."&lt;0xFF&gt;".
 *
 * <p>encode (run.c {@code encode}, bos = eos = 0): a dummy " " token first when the text is not
 * empty; each UTF-8 code point becomes its own token, or its bytes + 3 when the vocabulary lacks it;
 * then, while some adjacent pair concatenates to a vocabulary piece, the pair whose piece has the
 * highest score (leftmost on ties) is merged. {@link #encodeNaive} is that loop verbatim, O(n²) per
 * text; {@link #encode} gets the same ids from a priority queue.
 *
 * <p>decode (run.c {@code decode}): piece bytes concatenated, "&lt;0xHH&gt;" pieces as the raw byte,
 * a piece's leading space dropped right after BOS. run.c always starts from BOS; ids here carry no BOS,
 * so the start of the sequence counts as "after BOS" too (that drops encode's dummy space, so
 * decode(encode(s)) == s). BOS and EOS are dropped; &lt;unk&gt; prints as its piece, as in run.c.
 */
public final class Llama2cTokenizer implements Tokenizer {

    public static final int BOS = 1;
    public static final int EOS = 2;
    /** run.c starts its best-score search at -1e10: a pair scoring no higher is never merged. */
    private static final float NO_SCORE = -1e10f;

    /** The file this was read from. */
    public final Path file;
    public final int maxTokenLength;
    private final byte[][] pieces;        // (vocab) bytes of each id's piece
    private final float[] scores;         // (vocab) merge priority of each id's piece
    private final String[] keys;          // (vocab) piece bytes as ISO-8859-1 chars, one char per byte
    private final Map<String, Integer> ids; // key → id (first id when a piece repeats)
    private final int space;              // id of the piece " ", the dummy prefix

    private Llama2cTokenizer(Path file, int maxTokenLength, byte[][] pieces, float[] scores) {
        this.file = file;
        this.maxTokenLength = maxTokenLength;
        this.pieces = pieces;
        this.scores = scores;
        this.keys = new String[pieces.length];
        this.ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) {
            keys[i] = new String(pieces[i], StandardCharsets.ISO_8859_1);
            ids.putIfAbsent(keys[i], i);
        }
        Integer sp = ids.get(" ");
        if (sp == null) {
            throw new IllegalArgumentException(file + " has no \" \" piece, which llama2.c's encode needs as its "
                    + "dummy prefix; this is not a llama2.c SentencePiece tokenizer");
        }
        this.space = sp;
    }

    /** Reads a llama2.c tokenizer file; errors name the file, the id and the byte offset where it is bad. */
    public static Llama2cTokenizer load(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage()
                    + " (pass llama2.c's tokenizer.bin or tok512.bin)", e);
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (b.remaining() < 4) {
            throw new IllegalArgumentException(file + " is " + bytes.length + " bytes, too short for a llama2.c tokenizer");
        }
        int maxLen = b.getInt();
        if (maxLen <= 0) {
            throw new IllegalArgumentException(file + ": max_token_length " + maxLen
                    + " is not positive; not a llama2.c tokenizer file (or not little-endian)");
        }
        List<byte[]> p = new ArrayList<>();
        List<Float> s = new ArrayList<>();
        while (b.hasRemaining()) {
            int at = b.position();
            if (b.remaining() < 8) {
                throw new IllegalArgumentException(file + ": id " + p.size() + " at byte " + at
                        + " is cut short (" + b.remaining() + " bytes left, a record needs 8 + len); the file is truncated");
            }
            float score = b.getFloat();
            int len = b.getInt();
            if (len < 0 || len > b.remaining()) {
                throw new IllegalArgumentException(file + ": id " + p.size() + " at byte " + at + " has length " + len
                        + " but " + b.remaining() + " bytes remain; the file is truncated or not a llama2.c tokenizer");
            }
            byte[] piece = new byte[len];
            b.get(piece);
            p.add(piece);
            s.add(score);
        }
        if (p.size() <= EOS) {
            throw new IllegalArgumentException(file + " holds " + p.size() + " pieces; a llama2.c tokenizer has at least "
                    + "<unk>, BOS, EOS");
        }
        float[] scores = new float[s.size()];
        for (int i = 0; i < scores.length; i++) scores[i] = s.get(i);
        return new Llama2cTokenizer(file, maxLen, p.toArray(new byte[0][]), scores);
    }

    @Override
    public int vocabSize() { return pieces.length; }

    @Override
    public int bosId() { return BOS; }

    @Override
    public int eosId() { return EOS; }

    /** The piece bytes of {@code id} as stored in the file. */
    public byte[] piece(int id) { return pieces[checkId(id, 0)].clone(); }

    /** Id of the piece with these bytes, or -1. */
    public int id(byte[] piece) {
        return ids.getOrDefault(new String(piece, StandardCharsets.ISO_8859_1), -1);
    }

    /** Merge priority of {@code id}'s piece. */
    public float score(int id) { return scores[checkId(id, 0)]; }

    @Override
    public int[] encode(String text) {
        int[] t = initialTokens(text);
        int n = t.length;
        if (n < 2) return t;
        // Live tokens form a linked list over the initial positions; merging (l, r) keeps l and drops r,
        // so a node's position keeps the left-to-right order and breaks score ties like run.c's scan.
        int[] prev = new int[n], next = new int[n];
        boolean[] dead = new boolean[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Pair> queue = new PriorityQueue<>();
        for (int i = 0; i + 1 < n; i++) offer(queue, t, i, i + 1);
        while (!queue.isEmpty()) {
            Pair p = queue.poll();
            // Stale entries: a node merged away, a new neighbour, or a token changed by an earlier merge.
            if (dead[p.l] || dead[p.r] || next[p.l] != p.r || t[p.l] != p.lt || t[p.r] != p.rt) continue;
            t[p.l] = p.merged;
            dead[p.r] = true;
            next[p.l] = next[p.r];
            if (next[p.r] >= 0) prev[next[p.r]] = p.l;
            if (prev[p.l] >= 0) offer(queue, t, prev[p.l], p.l);
            if (next[p.l] >= 0) offer(queue, t, p.l, next[p.l]);
        }
        int count = 0;
        for (int i = 0; i < n; i++) if (!dead[i]) count++;
        int[] out = new int[count];
        for (int i = 0, k = 0; i >= 0; i = next[i]) out[k++] = t[i];
        return out;
    }

    /** A mergeable adjacent pair: nodes l, r holding tokens lt, rt, whose concatenation is {@code merged}. */
    private record Pair(float score, int l, int r, int lt, int rt, int merged) implements Comparable<Pair> {
        @Override
        public int compareTo(Pair o) {
            // Primitive comparisons, not Float.compare: run.c's '>' treats -0.0 and 0.0 as equal.
            if (score > o.score) return -1;
            if (score < o.score) return 1;
            return Integer.compare(l, o.l);
        }
    }

    private void offer(PriorityQueue<Pair> queue, int[] t, int l, int r) {
        Integer id = ids.get(keys[t[l]] + keys[t[r]]);
        if (id != null && scores[id] > NO_SCORE) queue.add(new Pair(scores[id], l, r, t[l], t[r], id));
    }

    /** run.c's encode loop verbatim: rescan every adjacent pair after each merge. The twin of {@link #encode}. */
    public int[] encodeNaive(String text) {
        int[] t = initialTokens(text);
        int n = t.length;
        while (true) {
            float best = NO_SCORE;
            int bestId = -1, bestIdx = -1;
            for (int i = 0; i < n - 1; i++) {
                Integer id = ids.get(keys[t[i]] + keys[t[i + 1]]);
                if (id != null && scores[id] > best) {
                    best = scores[id];
                    bestId = id;
                    bestIdx = i;
                }
            }
            if (bestIdx == -1) break;
            t[bestIdx] = bestId;
            System.arraycopy(t, bestIdx + 2, t, bestIdx + 1, n - bestIdx - 2);
            n--;
        }
        return Arrays.copyOf(t, n);
    }

    /** Dummy " " then one token per UTF-8 code point, or its bytes + 3 when the code point is not a piece. */
    private int[] initialTokens(String text) {
        byte[] s = text.getBytes(StandardCharsets.UTF_8);
        if (s.length == 0) return new int[0];
        int[] t = new int[s.length + 1];
        int n = 0;
        t[n++] = space;
        int start = 0;
        for (int c = 0; c < s.length; c++) {
            // As run.c: a code point ends where the next byte is not a continuation byte, or after 4 bytes.
            int len = c - start + 1;
            boolean nextIsContinuation = c + 1 < s.length && (s[c + 1] & 0xC0) == 0x80;
            if (nextIsContinuation && len < 4) continue;
            Integer id = ids.get(new String(s, start, len, StandardCharsets.ISO_8859_1));
            if (id != null) {
                t[n++] = id;
            } else {
                for (int k = start; k <= c; k++) t[n++] = (s[k] & 0xFF) + 3;
            }
            start = c + 1;
        }
        return Arrays.copyOf(t, n);
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int prev = BOS; // the sequence start counts as "after BOS" (see the class comment)
        for (int i = 0; i < ids.length; i++) {
            int id = checkId(ids[i], i);
            if (id != BOS && id != EOS) {
                byte[] p = pieces[id];
                int from = (prev == BOS && p.length > 0 && p[0] == ' ') ? 1 : 0;
                int b = bytePiece(p);
                if (b >= 0) out.write(b);
                else out.write(p, from, p.length - from);
            }
            prev = id;
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The byte of a "&lt;0xHH&gt;" piece, or -1 for any other piece. */
    private static int bytePiece(byte[] p) {
        if (p.length != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return -1;
        int hi = Character.digit(p[3], 16), lo = Character.digit(p[4], 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    private int checkId(int id, int position) {
        if (id < 0 || id >= pieces.length) {
            throw new IllegalArgumentException("token id " + id + " at position " + position + " is outside the vocabulary of "
                    + file + " (ids 0.." + (pieces.length - 1) + ")");
        }
        return id;
    }
}
