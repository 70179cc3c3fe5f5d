package dev.caldera4j.cli;

import dev.caldera4j.eval.ResultsFile;
import dev.caldera4j.model.Qwen2Config;
import dev.caldera4j.plan.Footprint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Exact device footprint of a compressed Qwen2 model, and which budgets fit (default: Qwen2-72B in 22 GiB).")
final class PlanCommand implements Callable<Integer> {

    @Option(names = "--config", description = "config.json of the model (default: Qwen2-72B's numbers)")
    Path config;

    @Option(names = "--budget-gib", defaultValue = "22", description = "device memory budget in GiB (default ${DEFAULT-VALUE})")
    double budgetGiB;

    @Option(names = "--bq", defaultValue = "2") int bq;
    @Option(names = "--group", defaultValue = "128") int group;
    @Option(names = "--rank", defaultValue = "128") int rank;
    @Option(names = "--factor-bits", defaultValue = "4", description = "bits of L and R (16 = fp16)") int factorBits;
    @Option(names = "--head-bits", defaultValue = "4", description = "lm_head bits (16 = fp16)") int headBits;
    @Option(names = "--context", defaultValue = "4096") int context;
    @Option(names = "--context-bytes", description = "CUDA context allowance in bytes (default: measured on the H200, results/gpu-context-h200.json)") Long contextBytes;

    @Option(names = "--out", description = "write the fit table as a results file")
    Path out;

    @Override
    public Integer call() {
        Qwen2Config c = config == null ? Qwen2Config.qwen2_72b() : Qwen2Config.load(config);
        String model = config == null ? "qwen2-72b" : config.toAbsolutePath().getParent().getFileName().toString();
        Footprint.Runtime rt = new Footprint.Runtime(context, 1, 2,
                contextBytes != null ? contextBytes : Footprint.Runtime.CONTEXT_BYTES_H200, 128);
        Footprint.Settings s = Footprint.Settings.caldera(bq, group, rank, factorBits).withHead(headBits, 128);
        Footprint.Plan p = Footprint.plan(c, s, rt);
        System.out.printf(Locale.ROOT, "%s, Q %d-bit g%d, rank %d, L/R %d-bit, lm_head %s, KV cache %d positions:%n",
                model, bq, group, rank, factorBits, headBits == 16 ? "fp16" : headBits + "-bit", context);
        for (Footprint.Part part : p.parts()) {
            System.out.printf(Locale.ROOT, "  %-42s %9.3f GiB %s%n", part.name(), part.bytes() / (double) (1L << 30),
                    part.onDevice() ? "" : "(host)");
        }
        System.out.printf(Locale.ROOT, "  %-42s %9.3f GiB — %s %.0f GiB; linears at %.4f bits/param%n%n", "device total",
                p.deviceGiB(), p.fits(budgetGiB) ? "fits" : "does NOT fit", budgetGiB, p.linearBitsPerParam());

        // the fit table: standard ranks, and the largest rank (multiple of 16) that fits
        List<Map<String, Object>> rows = new ArrayList<>();
        System.out.printf(Locale.ROOT, "%-4s %-6s %-6s %-8s %-6s %10s %12s %s%n", "bq", "group", "L/R", "lm_head", "rank",
                "bits/param", "device GiB", "fits");
        for (int g : new int[] {64, 128}) {
            for (int fb : new int[] {4, 16}) {
                for (int hb : new int[] {16, 4}) {
                    Footprint.Settings base = Footprint.Settings.caldera(bq, g, 0, fb).withHead(hb, 128);
                    int largest = -1;
                    for (int r = 0; r <= 4096; r += 16) {
                        if (Footprint.plan(c, base.withRank(r), rt).fits(budgetGiB)) largest = r; else break;
                    }
                    for (int r : new int[] {0, 64, 128, 256, largest}) {
                        if (r < 0) continue;
                        Footprint.Plan q = Footprint.plan(c, base.withRank(r), rt);
                        String fits = q.fits(budgetGiB) ? "yes" : "no";
                        String note = (r == largest ? "largest rank (multiple of 16) that fits; " : "")
                                + (q.fits(budgetGiB) ? "fits " : "does not fit ") + budgetGiB + " GiB with lm_head "
                                + (hb == 16 ? "fp16" : hb + "-bit g128") + ", embedding in host memory, " + context
                                + "-token fp16 KV cache, CUDA context " + rt.contextBytes() + " bytes";
                        System.out.printf(Locale.ROOT, "%-4d %-6d %-6d %-8s %-6s %10.4f %12.3f %s%n", bq, g, fb,
                                hb == 16 ? "fp16" : hb + "-bit", r == largest ? r + "*" : Integer.toString(r),
                                q.linearBitsPerParam(), q.deviceGiB(), fits);
                        Map<String, Object> row = new LinkedHashMap<>();
                        row.put("model", model);
                        row.put("method", r == 0 ? "gptq" : "caldera");
                        row.put("bq", bq);
                        row.put("group", g);
                        if (r > 0) {
                            row.put("bl", fb);
                            row.put("br", fb);
                        }
                        row.put("rank", r);
                        row.put("bits_per_param", q.linearBitsPerParam());
                        row.put("context", context);
                        row.put("planner_bytes", q.deviceBytes());
                        row.put("note", note);
                        rows.add(row);
                    }
                }
            }
        }
        System.out.println("(* = largest rank that fits)");
        if (out != null) {
            ResultsFile.write(out, ResultsFile.envelope("caldera4j plan --budget-gib " + budgetGiB + " --context " + context
                    + (contextBytes != null ? " --context-bytes " + contextBytes : "") + " --out " + out, rows, null));
            System.out.println("wrote " + out);
        }
        return 0;
    }
}
