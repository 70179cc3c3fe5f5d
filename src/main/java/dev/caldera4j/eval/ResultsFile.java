package dev.caldera4j.eval;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The results-file format of DESIGN "Results files": every file under results/ is
 * <pre>{"command": "...", "git_commit": "...", "machine": "...", "versions": {...}, "rows": [...]}</pre>
 * written by a committed command (never by hand), atomically. Rows use only the shared vocabulary
 * {@link #FIELDS}; {@link #validate(Path)} is what the CI test runs over results/.
 */
public final class ResultsFile {

    /** JSON type a row field must have. INTEGER: a number without fraction; NUMBER: any finite number. */
    public enum FieldType { STRING, INTEGER, NUMBER, BOOLEAN }

    /**
     * The row vocabulary and each field's type, in DESIGN's order. Beyond DESIGN's list, four
     * fields that reference-check rows need: {@code metric} (which metric a row checks, e.g.
     * "ppl_wikitext2"), {@code reference_value} (the outside reference, e.g. a model-card number),
     * {@code rel_diff} ((value − reference) / reference), and {@code note} (free text: caveats,
     * non-finite values left out). Per-matrix and Stage-1 rows add: {@code layer} (tensor prefix),
     * {@code proxy_error} (tr(ΔHΔᵀ)/tr(WHWᵀ)), {@code outer_iters}, {@code best_iteration} (CALDERA's kept
     * iterate), {@code iter_errors} (best error after 1, 2, … iterations, comma-separated), {@code matched}
     * (the GPTQ row matched to CALDERA's bits), {@code caldera_wins}; {@code rank_72b} (the Qwen2-72B rank
     * whose overhead a small-model rank matches), {@code overhead_bits} / {@code overhead_bits_72b} (bits per
     * parameter the L·R factors add), {@code bits_per_param_72b}, {@code bytes_72b} / {@code fits_72b_22gib}
     * (device bytes of the config on Qwen2-72B's shapes and whether they fit DESIGN's 22 GiB, fp16 lm_head),
     * the same with a 4-bit lm_head ({@code _head4}), and {@code pareto} (on the quality-vs-bits frontier).
     */
    public static final Map<String, FieldType> FIELDS = fields(
            // models and methods
            "model", FieldType.STRING, "method", FieldType.STRING, "bq", FieldType.INTEGER,
            "group", FieldType.INTEGER, "act_order", FieldType.BOOLEAN, "bl", FieldType.INTEGER,
            "br", FieldType.INTEGER, "rank", FieldType.INTEGER, "hadamard", FieldType.BOOLEAN,
            "calib_seqs", FieldType.INTEGER, "calib_seqlen", FieldType.INTEGER,
            "bits_per_param", FieldType.NUMBER, "eval", FieldType.STRING, "seqlen", FieldType.INTEGER,
            "ppl_wikitext2", FieldType.NUMBER, "ppl_c4", FieldType.NUMBER, "lambada_acc", FieldType.NUMBER,
            "hellaswag_acc", FieldType.NUMBER, "hellaswag_acc_norm", FieldType.NUMBER,
            "seconds", FieldType.NUMBER,
            // kernels
            "shape", FieldType.STRING, "d_out", FieldType.INTEGER, "d_in", FieldType.INTEGER,
            "tokens", FieldType.INTEGER, "variant", FieldType.STRING, "us", FieldType.NUMBER,
            "gbps", FieldType.NUMBER, "pct_of_copy_bw", FieldType.NUMBER, "copy_gbps", FieldType.NUMBER,
            // end-to-end
            "phase", FieldType.STRING, "context", FieldType.INTEGER, "tokens_per_s", FieldType.NUMBER,
            "device_bytes_peak", FieldType.INTEGER, "planner_bytes", FieldType.INTEGER,
            // stage 2
            "signal", FieldType.STRING, "budget_bits", FieldType.NUMBER, "overrides", FieldType.STRING,
            // per-matrix comparisons (LayerTable) and the Stage-1 sweep (Stage1): caldera4j additions
            "layer", FieldType.STRING, "proxy_error", FieldType.NUMBER, "outer_iters", FieldType.INTEGER,
            "best_iteration", FieldType.INTEGER, "iter_errors", FieldType.STRING, "matched", FieldType.BOOLEAN,
            "caldera_wins", FieldType.BOOLEAN, "rank_72b", FieldType.INTEGER, "overhead_bits", FieldType.NUMBER,
            "overhead_bits_72b", FieldType.NUMBER, "bits_per_param_72b", FieldType.NUMBER, "bytes_72b", FieldType.INTEGER,
            "fits_72b_22gib", FieldType.BOOLEAN, "bytes_72b_head4", FieldType.INTEGER, "fits_72b_22gib_head4", FieldType.BOOLEAN,
            "pareto", FieldType.BOOLEAN,
            // stage 2 sensitivity profiles (caldera4j additions): one row per layer or matrix and signal
            "layer_index", FieldType.INTEGER, "matrix", FieldType.STRING, "sensitivity", FieldType.NUMBER,
            "recovery", FieldType.NUMBER, "margin", FieldType.NUMBER, "positions", FieldType.INTEGER,
            // reference checks and remarks (caldera4j additions, see above)
            "metric", FieldType.STRING, "reference_value", FieldType.NUMBER, "rel_diff", FieldType.NUMBER,
            "note", FieldType.STRING,
            // where the model ran during evaluation (caldera4j addition): "cpu" (fp32 reference forward) or
            // "gpu-engine" (the fused fp16 engine, evaluating from tokenize-eval's ids)
            "backend", FieldType.STRING);

    /** The row vocabulary: the one list of field names a results row may use. */
    public static final Set<String> KNOWN_FIELDS = FIELDS.keySet();

    /** Fields whose values come from a closed list. */
    public static final Map<String, Set<String>> ALLOWED_VALUES = Map.of(
            "method", Set.of("dense", "rtn", "gptq", "caldera"),
            "eval", Set.of("quick", "full"),
            "backend", Set.of("cpu", "gpu-engine"));

    /** Top-level keys, in the order they are written. */
    public static final List<String> ENVELOPE_KEYS = List.of("command", "git_commit", "machine", "versions", "rows");

    private static final Pattern GIT_COMMIT = Pattern.compile("[0-9a-f]{7,40}(-dirty)?|unknown");
    private static final Gson GSON = new Gson();

    private ResultsFile() {}

    /**
     * One results file.
     *
     * @param command   the committed command line that produced it
     * @param gitCommit HEAD, "-dirty" appended when tracked files have changes
     * @param machine   hostname, CPU model, cores (and GPU)
     * @param versions  software versions (java, caldera4j, os, and whatever else the run depends on)
     * @param rows      one JSON object per measurement, values String / Boolean / Number
     */
    public record Envelope(String command, String gitCommit, String machine, Map<String, String> versions,
                           List<Map<String, Object>> rows) {
        public Envelope {
            versions = new LinkedHashMap<>(versions);
            List<Map<String, Object>> copy = new ArrayList<>();
            for (Map<String, Object> r : rows) {
                copy.add(new LinkedHashMap<>(r));
            }
            rows = copy;
        }
    }

    /** An envelope for this process: git commit of the working directory, this machine, versions. */
    public static Envelope envelope(String command, List<Map<String, Object>> rows, String gpuName) {
        return new Envelope(command, gitCommit(Path.of("")), machine(gpuName), versions(), rows);
    }

    // ------------------------------------------------------------------ writing

    /**
     * Writes {@code e} to {@code file} atomically (temporary file in the same directory, then
     * rename), after checking it with the same rules as {@link #validate(Path)}.
     *
     * @throws IllegalArgumentException listing every problem, when the envelope is not valid
     */
    public static void write(Path file, Envelope e) {
        JsonObject root = toJson(e);
        List<String> problems = validate(root, file.toString());
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("refusing to write an invalid results file " + file + ":\n  "
                    + String.join("\n  ", problems));
        }
        writeAtomically(file, format(root));
    }

    /** The envelope as JSON; a row value that is not String, Boolean or a finite Number is rejected. */
    public static JsonObject toJson(Envelope e) {
        JsonObject root = new JsonObject();
        root.addProperty("command", e.command());
        root.addProperty("git_commit", e.gitCommit());
        root.addProperty("machine", e.machine());
        JsonObject versions = new JsonObject();
        e.versions().forEach(versions::addProperty);
        root.add("versions", versions);
        JsonArray rows = new JsonArray();
        for (int i = 0; i < e.rows().size(); i++) {
            JsonObject row = new JsonObject();
            for (Map.Entry<String, Object> f : e.rows().get(i).entrySet()) {
                row.add(f.getKey(), value(f.getValue(), "row " + i + " field \"" + f.getKey() + "\""));
            }
            rows.add(row);
        }
        root.add("rows", rows);
        return root;
    }

    private static JsonElement value(Object v, String where) {
        return switch (v) {
            case String s -> new JsonPrimitive(s);
            case Boolean b -> new JsonPrimitive(b);
            case Integer i -> new JsonPrimitive(i);
            case Long l -> new JsonPrimitive(l);
            case Short s -> new JsonPrimitive(s);
            case Byte b -> new JsonPrimitive(b);
            case BigDecimal d -> new JsonPrimitive(d);
            case Double d when Double.isFinite(d) -> new JsonPrimitive(d);
            case Float f when Float.isFinite(f) -> new JsonPrimitive(f);
            case Double d -> throw new IllegalArgumentException(where + " is " + d
                    + ": JSON has no NaN/Infinity; leave the field out and say why in \"note\"");
            case Float f -> throw new IllegalArgumentException(where + " is " + f
                    + ": JSON has no NaN/Infinity; leave the field out and say why in \"note\"");
            case null -> throw new IllegalArgumentException(where + " is null: omit fields that do not apply");
            default -> throw new IllegalArgumentException(where + " has type " + v.getClass().getName()
                    + ": row values are String, Boolean or Number");
        };
    }

    /** Envelope keys one per line, each row compact on its own line (diff-friendly). */
    static String format(JsonObject root) {
        StringBuilder sb = new StringBuilder("{\n");
        for (String key : ENVELOPE_KEYS) {
            sb.append("  ").append(GSON.toJson(key)).append(": ");
            if (key.equals("rows")) {
                JsonArray rows = root.getAsJsonArray("rows");
                sb.append("[\n");
                for (int i = 0; i < rows.size(); i++) {
                    sb.append("    ").append(GSON.toJson(rows.get(i))).append(i + 1 < rows.size() ? ",\n" : "\n");
                }
                sb.append("  ]\n");
            } else {
                sb.append(GSON.toJson(root.get(key))).append(",\n");
            }
        }
        return sb.append("}\n").toString();
    }

    /** Writes text via a temporary sibling and a rename, so a reader never sees half a file. */
    public static void writeAtomically(Path file, String text) {
        Path abs = file.toAbsolutePath();
        try {
            Files.createDirectories(abs.getParent());
            Path tmp = Files.createTempFile(abs.getParent(), abs.getFileName().toString() + ".", ".tmp");
            try {
                Files.writeString(tmp, text, StandardCharsets.UTF_8);
                try {
                    Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    // ------------------------------------------------------------------ reading and validating

    /** Reads a results file; numbers without a fraction come back as Long, others as Double. */
    public static Envelope read(Path file) {
        JsonObject root;
        try {
            root = parseStrict(file).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        List<String> problems = validate(root, file.toString());
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("invalid results file " + file + ":\n  " + String.join("\n  ", problems));
        }
        Map<String, String> versions = new LinkedHashMap<>();
        root.getAsJsonObject("versions").entrySet().forEach(en -> versions.put(en.getKey(), en.getValue().getAsString()));
        List<Map<String, Object>> rows = new ArrayList<>();
        for (JsonElement r : root.getAsJsonArray("rows")) {
            Map<String, Object> row = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> f : r.getAsJsonObject().entrySet()) {
                JsonPrimitive p = f.getValue().getAsJsonPrimitive();
                row.put(f.getKey(), p.isBoolean() ? (Object) p.getAsBoolean()
                        : p.isString() ? p.getAsString()
                        : isIntegral(p) ? (Object) p.getAsLong() : (Object) p.getAsDouble());
            }
            rows.add(row);
        }
        return new Envelope(root.get("command").getAsString(), root.get("git_commit").getAsString(),
                root.get("machine").getAsString(), versions, rows);
    }

    /**
     * Every problem of a results file, empty when it is valid: not strict JSON, a missing or
     * extra envelope key, an empty command/git_commit/machine, versions not an object of strings,
     * rows missing or empty, a row that is not an object, an unknown field, a value of the wrong
     * type, a value outside its closed list.
     */
    public static List<String> validate(Path file) {
        JsonElement root;
        try {
            root = parseStrict(file);
        } catch (IOException | JsonParseException | IllegalStateException e) {
            return List.of(file + ": not a strict JSON document: " + e.getMessage());
        }
        return validate(root, file.toString());
    }

    /** {@link #validate(Path)} on parsed JSON; {@code name} prefixes each problem. */
    public static List<String> validate(JsonElement rootElement, String name) {
        List<String> problems = new ArrayList<>();
        if (!rootElement.isJsonObject()) {
            problems.add(name + ": the top level is not a JSON object");
            return problems;
        }
        JsonObject root = rootElement.getAsJsonObject();
        for (String key : root.keySet()) {
            if (!ENVELOPE_KEYS.contains(key)) {
                problems.add(name + ": unknown envelope key \"" + key + "\" (allowed: " + ENVELOPE_KEYS + ")");
            }
        }
        for (String key : List.of("command", "git_commit", "machine")) {
            JsonElement v = root.get(key);
            if (v == null) {
                problems.add(name + ": missing envelope key \"" + key + "\"");
            } else if (!isString(v) || v.getAsString().isBlank()) {
                problems.add(name + ": \"" + key + "\" must be a non-empty string, got " + v);
            }
        }
        JsonElement commit = root.get("git_commit");
        if (isString(commit) && !commit.getAsString().isBlank()
                && !GIT_COMMIT.matcher(commit.getAsString()).matches()) {
            problems.add(name + ": \"git_commit\" " + commit + " is not a hex commit id (optionally -dirty) or \"unknown\"");
        }
        JsonElement versions = root.get("versions");
        if (versions == null) {
            problems.add(name + ": missing envelope key \"versions\"");
        } else if (!versions.isJsonObject()) {
            problems.add(name + ": \"versions\" must be an object of strings (or numbers, e.g. a driver version), got " + versions);
        } else {
            for (Map.Entry<String, JsonElement> v : versions.getAsJsonObject().entrySet()) {
                if (!isString(v.getValue()) && !(v.getValue().isJsonPrimitive() && v.getValue().getAsJsonPrimitive().isNumber())) {
                    problems.add(name + ": versions." + v.getKey() + " must be a string or a number, got " + v.getValue());
                }
            }
        }
        JsonElement rows = root.get("rows");
        if (rows == null) {
            problems.add(name + ": missing envelope key \"rows\"");
        } else if (!rows.isJsonArray()) {
            problems.add(name + ": \"rows\" must be an array of objects, got " + rows);
        } else if (rows.getAsJsonArray().isEmpty()) {
            problems.add(name + ": \"rows\" is empty: a results file records at least one measurement");
        } else {
            JsonArray array = rows.getAsJsonArray();
            for (int i = 0; i < array.size(); i++) {
                validateRow(array.get(i), name + ": row " + i, problems);
            }
        }
        return problems;
    }

    private static void validateRow(JsonElement rowElement, String where, List<String> problems) {
        if (!rowElement.isJsonObject()) {
            problems.add(where + " is not a JSON object: " + rowElement);
            return;
        }
        JsonObject row = rowElement.getAsJsonObject();
        if (row.isEmpty()) {
            problems.add(where + " is empty");
        }
        for (Map.Entry<String, JsonElement> f : row.entrySet()) {
            FieldType type = FIELDS.get(f.getKey());
            JsonElement v = f.getValue();
            if (type == null) {
                problems.add(where + ": unknown field \"" + f.getKey()
                        + "\" (not in ResultsFile.FIELDS; use the shared vocabulary or add the field there)");
                continue;
            }
            boolean ok = v.isJsonPrimitive() && switch (type) {
                case STRING -> v.getAsJsonPrimitive().isString();
                case BOOLEAN -> v.getAsJsonPrimitive().isBoolean();
                case NUMBER -> v.getAsJsonPrimitive().isNumber();
                case INTEGER -> v.getAsJsonPrimitive().isNumber() && isIntegral(v.getAsJsonPrimitive());
            };
            if (!ok) {
                problems.add(where + ": field \"" + f.getKey() + "\" must be " + type + ", got " + v);
                continue;
            }
            Set<String> allowed = ALLOWED_VALUES.get(f.getKey());
            if (allowed != null && !allowed.contains(v.getAsString())) {
                problems.add(where + ": field \"" + f.getKey() + "\" is " + v + ", not one of " + new TreeSet<>(allowed));
            }
        }
    }

    /** Strict JSON (no NaN, comments, single quotes or trailing data) — what any reader accepts. */
    private static JsonElement parseStrict(Path file) throws IOException {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            JsonReader reader = new JsonReader(r);
            reader.setStrictness(Strictness.STRICT);
            JsonElement root = JsonParser.parseReader(reader);
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                throw new JsonParseException("trailing data after the top-level value");
            }
            return root;
        }
    }

    private static boolean isString(JsonElement v) {
        return v != null && v.isJsonPrimitive() && v.getAsJsonPrimitive().isString();
    }

    private static boolean isIntegral(JsonPrimitive p) {
        try {
            return new BigDecimal(p.getAsString()).stripTrailingZeros().scale() <= 0;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    // ------------------------------------------------------------------ provenance

    /**
     * HEAD of the git work tree at {@code dir}, with "-dirty" when tracked files differ from it
     * (untracked files — e.g. the results file being written — do not count). The system property
     * caldera4j.git_commit overrides it, for runs on machines that get a copy of the tree without
     * .git (the GPU host); "unknown" when neither works.
     */
    public static String gitCommit(Path dir) {
        String given = System.getProperty("caldera4j.git_commit");
        if (given != null && !given.isBlank()) {
            return given.strip();
        }
        String head = git(dir, "rev-parse", "HEAD");
        if (head == null || head.isBlank()) {
            return "unknown";
        }
        String status = git(dir, "status", "--porcelain", "--untracked-files=no");
        return head.strip() + (status == null || !status.isBlank() ? "-dirty" : "");
    }

    private static String git(Path dir, String... args) {
        List<String> cmd = new ArrayList<>(List.of("git", "-C", dir.toAbsolutePath().toString()));
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out;
            try (InputStream in = p.getInputStream()) {
                out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroy();
                return null;
            }
            return p.exitValue() == 0 ? out : null;
        } catch (IOException e) {
            return null; // no git on this machine
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** "hostname, CPU model, N cores" plus ", gpuName" when given. */
    public static String machine(String gpuName) {
        String host = firstLine(Path.of("/etc/hostname"));
        if (host == null) {
            host = System.getenv("HOSTNAME");
        }
        if (host == null) {
            try {
                host = InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                host = "unknown-host";
            }
        }
        String cpu = System.getProperty("os.arch");
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    cpu = line.substring(line.indexOf(':') + 1).strip();
                    break;
                }
            }
        } catch (IOException | UncheckedIOException e) {
            // not Linux: keep os.arch
        }
        String m = host + ", " + cpu + ", " + Runtime.getRuntime().availableProcessors() + " cores";
        return gpuName == null || gpuName.isBlank() ? m : m + ", " + gpuName;
    }

    /** java, caldera4j and os versions. */
    public static Map<String, String> versions() {
        Map<String, String> v = new LinkedHashMap<>();
        v.put("java", System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")");
        v.put("caldera4j", caldera4jVersion());
        v.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                + System.getProperty("os.arch"));
        return v;
    }

    /**
     * The project version: the jar manifest's Implementation-Version, else the pom.properties
     * Maven puts in the jar, else the version in ./pom.xml (running from target/classes in the
     * project directory), else "unknown".
     */
    static String caldera4jVersion() {
        String v = ResultsFile.class.getPackage().getImplementationVersion();
        if (v != null) {
            return v;
        }
        try (InputStream in = ResultsFile.class.getResourceAsStream("/META-INF/maven/dev.caldera4j/caldera4j/pom.properties")) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                if (p.getProperty("version") != null) {
                    return p.getProperty("version");
                }
            }
        } catch (IOException e) {
            // fall through to pom.xml
        }
        try {
            Matcher m = Pattern.compile("<artifactId>caldera4j</artifactId>\\s*<version>([^<]+)</version>")
                    .matcher(Files.readString(Path.of("pom.xml")));
            if (m.find()) {
                return m.group(1).strip();
            }
        } catch (IOException | UncheckedIOException e) {
            // not in the project directory
        }
        return "unknown";
    }

    private static String firstLine(Path p) {
        try {
            List<String> lines = Files.readAllLines(p);
            return lines.isEmpty() || lines.get(0).isBlank() ? null : lines.get(0).strip();
        } catch (IOException | UncheckedIOException e) {
            return null;
        }
    }

    private static Map<String, FieldType> fields(Object... pairs) {
        Map<String, FieldType> m = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            if (m.put((String) pairs[i], (FieldType) pairs[i + 1]) != null) {
                throw new IllegalStateException("field " + pairs[i] + " listed twice");
            }
        }
        return Collections.unmodifiableMap(m);
    }
}
