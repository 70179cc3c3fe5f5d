package dev.caldera4j.gpu;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Measures what the CUDA context and the kernel module cost in device memory — the footprint
 * planner's "CUDA context" line — and checks that cuMemGetInfo sees an allocation byte for byte.
 * Usage (GPU host): {@code java -cp … dev.caldera4j.gpu.ContextProbe --out $OUT/gpu-context.json --git-commit C}.
 * Writes DESIGN's results-file envelope (rows: phase, device_bytes_peak, note).
 */
public final class ContextProbe {
    private ContextProbe() {}

    public static void main(String[] args) throws Exception {
        Path out = null;
        String commit = "unknown";
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--out")) out = Path.of(args[++i]);
            else if (args[i].equals("--git-commit")) commit = args[++i];
            else throw new IllegalArgumentException("unknown argument " + args[i] + " (use --out FILE --git-commit C)");
        }
        Gpu.Availability a = Gpu.available();
        if (!a.available()) throw new IllegalStateException("no GPU: " + a.reason());
        JsonArray rows = new JsonArray();
        String machine;
        try (Gpu gpu = Gpu.open()) {
            machine = gpu.deviceName + ", " + gpu.smCount + " SMs, driver " + gpu.driverVersion;
            long context = gpu.usedBytes(); // context + stream + loaded module, nothing allocated yet
            rows.add(row("context", context, "device memory in use after the primary context, a stream and "
                    + gpu.ptxResource + " are loaded (cuMemGetInfo total − free)"));
            long probe = 1L << 30;
            Gpu.Buffer b = gpu.alloc(probe, "probe");
            long after = gpu.usedBytes();
            rows.add(row("context", after, "after one 1 GiB cuMemAlloc: delta " + (after - context) + " bytes ("
                    + String.format("%.4f", (after - context) / (double) probe) + " of the allocation)"));
            gpu.free(b);
            System.out.printf("%s: context + module %.1f MiB; a 1 GiB allocation shows as %.4f GiB%n", machine,
                    context / 1048576.0, (after - context) / (double) probe);
        }
        JsonObject env = new JsonObject();
        env.addProperty("command", "java -cp '.device-gpu/lib/*' dev.caldera4j.gpu.ContextProbe --out $OUT/gpu-context-h200.json --git-commit " + commit);
        env.addProperty("git_commit", commit);
        env.addProperty("machine", machine);
        JsonObject versions = new JsonObject();
        versions.addProperty("java", Runtime.version().toString());
        versions.addProperty("jcuda", "12.6.0");
        env.add("versions", versions);
        env.add("rows", rows);
        if (out != null) Files.writeString(out, new GsonBuilder().setPrettyPrinting().create().toJson(env) + "\n");
    }

    private static JsonObject row(String phase, long bytes, String note) {
        JsonObject r = new JsonObject();
        r.addProperty("phase", phase);
        r.addProperty("device_bytes_peak", bytes);
        r.addProperty("note", note);
        return r;
    }
}
