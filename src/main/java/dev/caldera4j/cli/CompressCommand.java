package dev.caldera4j.cli;

import dev.caldera4j.calib.CheckpointCompressor;
import dev.caldera4j.calib.CompressSpec;
import dev.caldera4j.quant.CalderaConfig;
import dev.caldera4j.calib.Corpus;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.plan.Overrides;
import dev.caldera4j.quant.QuantConfig;
import dev.caldera4j.util.Progress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "compress", mixinStandardHelpOptions = true,
        description = {"Compress an HF Qwen2/Llama checkpoint layer by layer into a format-v1 compressed checkpoint.",
                "Resumable: if a run dies, run the same command again; it continues at the next block",
                "and the result is byte-identical to an uninterrupted run."})
final class CompressCommand implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, required = true, description = "HF model directory (config.json, *.safetensors, tokenizer.json)")
    Path model;

    @Option(names = "--method", required = true, description = "rtn | gptq | caldera")
    String method;

    @Option(names = "--bits", defaultValue = "4", description = "code width bq: 2, 3, 4 or 8 (default ${DEFAULT-VALUE})")
    int bits;

    @Option(names = "--group", defaultValue = "128", description = "input columns per scale/zero; -1 = one group per output channel (default ${DEFAULT-VALUE})")
    int group;

    @Option(names = "--act-order", negatable = true, description = "GPTQ: quantise columns by descending diag(H), static groups (default: on at 2 bits, off otherwise)")
    Boolean actOrder;

    @Option(names = "--sym", description = "symmetric grid (zero = 2^(bq−1)); default asymmetric min-max")
    boolean sym;

    @Option(names = "--percdamp", defaultValue = "0.01", description = "GPTQ damping λ: H += λ·mean(diag H)·I (default ${DEFAULT-VALUE})")
    double percdamp;

    @Option(names = "--true-sequential", description = "within a block, take each group's Hessian after the previous groups are compressed")
    boolean trueSequential;

    @Option(names = "--calib-seqs", description = "calibration windows (default: 128 for gptq; 0 for rtn, which needs none — give N > 0 to get proxy errors)")
    Integer calibSeqs;

    @Option(names = "--calib-seqlen", defaultValue = "2048", description = "tokens per calibration window (default ${DEFAULT-VALUE})")
    int calibSeqlen;

    @Option(names = "--seed", defaultValue = "0", description = "calibration sampling seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--corpus", description = "training corpus: directory of *.txt.xz (default ../shared/data/train/corpus)")
    Path corpus;

    @Option(names = "--rank", defaultValue = "64", description = "caldera: rank r of L·R (default ${DEFAULT-VALUE})")
    int rank;

    @Option(names = "--factor-bits", defaultValue = "4", description = "caldera: bits of L and R, 4 or 16 (default ${DEFAULT-VALUE})")
    int factorBits;

    @Option(names = "--iters", defaultValue = "15", description = "caldera: outer iterations; the best iterate is kept (default ${DEFAULT-VALUE})")
    int iters;

    @Option(names = "--hadamard", description = "caldera: randomised Hadamard incoherence on both sides (CPU forward only for now)")
    boolean hadamard;

    @Option(names = "--overrides", description = "JSON file of per-matrix settings {\"3.down\": {\"bq\":2, \"group\":128, \"rank\":64, \"bl\":4, \"br\":4}, …}"
            + " (keys <layer>.<q|k|v|o|gate|up|down>); recorded in caldera4j.json")
    Path overrides;

    @Option(names = "--out", required = true, description = "output directory (must not exist; <out>.partial is resumed)")
    Path out;

    @Override
    public Integer call() {
        CalderaConfig cc = method.equals("caldera")
                ? CalderaConfig.of(rank, factorBits, factorBits).withIters(iters, CalderaConfig.of(rank, factorBits, factorBits).lrAlsIters())
                        .withHadamard(hadamard, seed)
                : null;
        CheckpointCompressor.Job job = job(model, method, bits, group, actOrder, sym, percdamp, trueSequential,
                calibSeqs, calibSeqlen, seed, corpus, out, cc);
        if (overrides != null) job = new CheckpointCompressor.Job(job.model(), job.out(), job.spec().withOverrides(readOverrides(overrides)), job.calib());
        int layers = Qwen2Config.load(model.resolve("config.json")).numLayers();
        CheckpointCompressor.Summary s;
        try (Progress p = Progress.start("compress " + method + " " + bits + "-bit", 7 * layers)) {
            s = CheckpointCompressor.run(job, p);
        }
        var b = s.bitsPerParam();
        System.out.printf(Locale.ROOT, "wrote %s%n  bits/param: linears %.4f, without embeddings %.4f, with embeddings %.4f%n"
                        + "  compression time %.1f s%s%n", s.out(), b.get("linears").getAsDouble(),
                b.get("without_embeddings").getAsDouble(), b.get("with_embeddings").getAsDouble(), s.seconds(),
                s.layersResumed() > 0 ? " (" + s.layersResumed() + " blocks resumed from an earlier run)" : "");
        return 0;
    }

    static Overrides readOverrides(Path file) {
        try {
            return Overrides.fromJson(com.google.gson.JsonParser.parseString(java.nio.file.Files.readString(file)).getAsJsonObject());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read --overrides " + file + ": " + e.getMessage(), e);
        } catch (IllegalStateException | com.google.gson.JsonParseException e) {
            throw new IllegalArgumentException("--overrides " + file + " is not a JSON object of per-matrix settings: " + e.getMessage(), e);
        }
    }

    /** The job a command line describes (shared with the phase-1 sweep). */
    static CheckpointCompressor.Job job(Path model, String method, int bits, int group, Boolean actOrder, boolean sym,
                                        double percdamp, boolean trueSequential, Integer calibSeqs, int calibSeqlen,
                                        long seed, Path corpus, Path out) {
        return job(model, method, bits, group, actOrder, sym, percdamp, trueSequential, calibSeqs, calibSeqlen, seed, corpus, out, null);
    }

    /** As above; {@code caldera} carries rank, factor bits, iterations and Hadamard for method caldera (its Q grid is overwritten). */
    static CheckpointCompressor.Job job(Path model, String method, int bits, int group, Boolean actOrder, boolean sym,
                                        double percdamp, boolean trueSequential, Integer calibSeqs, int calibSeqlen,
                                        long seed, Path corpus, Path out, CalderaConfig caldera) {
        QuantConfig q = QuantConfig.of(bits, group <= 0 ? -1 : group).withSymmetric(sym)
                .withDamping(percdamp, QuantConfig.DEFAULT_MAX_DAMP_ESCALATIONS);
        if (actOrder != null) q = q.withActOrder(actOrder);
        CalderaConfig calderaConfig = caldera == null && method.equals("caldera") ? CalderaConfig.of(64, 4, 4) : caldera;
        if (calderaConfig != null) {
            calderaConfig = calderaConfig.withQ(q.bits(), q.group()).withActOrder(q.actOrder()).withDamping(percdamp, QuantConfig.DEFAULT_MAX_DAMP_ESCALATIONS);
        }
        CompressSpec spec = new CompressSpec(method, q, trueSequential, method.equals("caldera") ? calderaConfig : null);
        int n = calibSeqs != null ? calibSeqs : spec.needsHessian() ? 128 : 0;
        if (n < 0) throw new IllegalArgumentException("--calib-seqs " + n + " must be ≥ 0");
        CheckpointCompressor.Calibration cal = n == 0 ? null
                : new CheckpointCompressor.Calibration(corpus != null ? corpus : Corpus.defaultDir(), n, calibSeqlen, seed);
        return new CheckpointCompressor.Job(model, out, spec, cal);
    }
}
