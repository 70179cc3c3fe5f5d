package dev.caldera4j.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * karpathy's llama2.c checkpoint (legacy v0): 7 int32 header (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len), then float32 tok_emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2,
 * w3, rms_final, freq_cis_real, freq_cis_imag; a positive vocab_size means the classifier is the
 * embedding. Weights are stored as (out, in), like PyTorch's Linear.
 *
 * <p>llama2.c rotates interleaved pairs (2i, 2i+1); HF's Llama/Qwen2 rotate halves (i, i+hd/2). Loading
 * permutes the rows of wq and wk within each head (the permutation of transformers' own
 * convert_llama_weights_to_hf), so the result runs through the HF-layout forward pass unchanged.
 */
public final class Llama2c {
    private Llama2c() {}

    /** The checkpoint as HF-layout weights (model_type llama, no biases, RMSNorm ε 1e-5, RoPE θ 1e4). */
    public static Qwen2Weights load(Path bin) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(bin);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read llama2.c checkpoint " + bin + ": " + e.getMessage(), e);
        }
        if (bytes.length < 28) throw new IllegalArgumentException(bin + ": " + bytes.length + " bytes is too short for a llama2.c header (28 bytes)");
        ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int dim = bb.getInt(), hidden = bb.getInt(), nLayers = bb.getInt(), nHeads = bb.getInt(),
                nKv = bb.getInt(), vocabRaw = bb.getInt(), seqLen = bb.getInt();
        boolean shared = vocabRaw > 0;
        int vocab = Math.abs(vocabRaw);
        int hs = dim / nHeads, kvDim = nKv * hs;
        long expected = 28 + 4L * ((long) vocab * dim + (long) nLayers * dim
                + (long) nLayers * dim * dim + 2L * nLayers * dim * kvDim + (long) nLayers * dim * dim
                + (long) nLayers * dim + 3L * nLayers * dim * hidden + dim + (long) seqLen * hs
                + (shared ? 0 : (long) vocab * dim));
        if (bytes.length != expected) {
            throw new IllegalArgumentException(bin + ": " + bytes.length + " bytes, but the header (dim " + dim + ", hidden " + hidden
                    + ", layers " + nLayers + ", heads " + nHeads + "/" + nKv + ", vocab " + vocabRaw + ", seq_len " + seqLen
                    + ") implies " + expected + " — not a llama2.c v0 checkpoint?");
        }
        FloatBuffer f = bb.asFloatBuffer();
        float[] emb = take(f, (long) vocab * dim);
        float[][] rmsAtt = split(take(f, (long) nLayers * dim), nLayers);
        float[][] wq = split(take(f, (long) nLayers * dim * dim), nLayers);
        float[][] wk = split(take(f, (long) nLayers * kvDim * dim), nLayers);
        float[][] wv = split(take(f, (long) nLayers * kvDim * dim), nLayers);
        float[][] wo = split(take(f, (long) nLayers * dim * dim), nLayers);
        float[][] rmsFfn = split(take(f, (long) nLayers * dim), nLayers);
        float[][] w1 = split(take(f, (long) nLayers * hidden * dim), nLayers);
        float[][] w2 = split(take(f, (long) nLayers * dim * hidden), nLayers);
        float[][] w3 = split(take(f, (long) nLayers * hidden * dim), nLayers);
        float[] rmsFinal = take(f, dim);
        take(f, (long) seqLen * hs / 2); // freq_cis_real (seq_len, hs/2): recomputed from θ
        take(f, (long) seqLen * hs / 2); // freq_cis_imag
        float[] cls = shared ? emb : take(f, (long) vocab * dim);

        Qwen2Config cfg = new Qwen2Config("llama", dim, hidden, nLayers, nHeads, nKv, hs, vocab, 1e-5, 10000.0,
                shared, seqLen, false, "float32");
        Qwen2Weights.Block[] blocks = new Qwen2Weights.Block[nLayers];
        for (int l = 0; l < nLayers; l++) {
            blocks[l] = new Qwen2Weights.Block(rmsAtt[l],
                    new DenseLinear(interleavedToHalf(wq[l], nHeads, hs, dim), null, dim, dim, 4),
                    new DenseLinear(interleavedToHalf(wk[l], nKv, hs, dim), null, kvDim, dim, 4),
                    new DenseLinear(wv[l], null, kvDim, dim, 4),
                    new DenseLinear(wo[l], null, dim, dim, 4),
                    rmsFfn[l],
                    new DenseLinear(w1[l], null, hidden, dim, 4),
                    new DenseLinear(w3[l], null, hidden, dim, 4),
                    new DenseLinear(w2[l], null, dim, hidden, 4));
        }
        return new Qwen2Weights(cfg, emb, blocks, rmsFinal, new DenseLinear(cls, null, vocab, dim, 4));
    }

    /**
     * Rows of W (nHeads·hs, dIn) reordered per head so that interleaved rotary pairs (2i, 2i+1) become
     * rotate-half pairs (i, i+hs/2): new row i ← old row 2i, new row hs/2+i ← old row 2i+1.
     */
    static float[] interleavedToHalf(float[] W, int nHeads, int hs, int dIn) {
        float[] out = new float[W.length];
        int half = hs / 2;
        for (int h = 0; h < nHeads; h++) {
            for (int i = 0; i < half; i++) {
                System.arraycopy(W, (h * hs + 2 * i) * dIn, out, (h * hs + i) * dIn, dIn);
                System.arraycopy(W, (h * hs + 2 * i + 1) * dIn, out, (h * hs + half + i) * dIn, dIn);
            }
        }
        return out;
    }

    private static float[] take(FloatBuffer f, long n) {
        float[] a = new float[Math.toIntExact(n)];
        f.get(a);
        return a;
    }

    private static float[][] split(float[] a, int parts) {
        int n = a.length / parts;
        float[][] out = new float[parts][n];
        for (int p = 0; p < parts; p++) System.arraycopy(a, p * n, out[p], 0, n);
        return out;
    }
}
