package dev.caldera4j.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * An HF tokenizers {@code tokenizer.json} (byte-level BPE for Qwen2 and the stand-in), run by DJL's
 * binding of the Rust tokenizers library.
 *
 * <p>encode = HF {@code encode(text, add_special_tokens=False)} without truncation or padding;
 * special-token strings that occur in the text (e.g. "&lt;|endoftext|&gt;") are matched as their ids,
 * as HF does. decode = HF {@code decode(ids, skip_special_tokens=True,
 * clean_up_tokenization_spaces=False)}: byte-level decode round-trips any text exactly, while the
 * cleanup pass (" ." → ".", " 's" → "'s", …) would break that on WikiText, whose raw text is full of
 * " , " and " @-@ ". DJL applies the cleanup only when it is handed a tokenizer_config.json, so this
 * class never hands it one and reads the few keys it needs itself.
 *
 * <p>Native library: DJL copies libtokenizers.so (15 MB) out of its jar into
 * {@code $ENGINE_CACHE_DIR/tokenizers/} (else {@code $DJL_CACHE_DIR}, else {@code ~/.djl.ai}) on first
 * use and loads it from there; nothing is downloaded. When neither variable is set and the working
 * directory is a Maven project (a pom.xml there), the copy goes to {@code target/djl-cache} instead of
 * the home directory. DJL also reads EC2 instance metadata once a day ("call home") unless
 * OPT_OUT_TRACKING is set; it is set here, so no network request is made.
 */
public final class HfTokenizer implements Tokenizer, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(HfTokenizer.class.getName());

    static {
        // Must run before DJL's LibUtils class initialises: it reads the cache dir once, in its static block.
        if (unset("ENGINE_CACHE_DIR") && unset("DJL_CACHE_DIR")) {
            Path cwd = Path.of(System.getProperty("user.dir"));
            if (Files.isRegularFile(cwd.resolve("pom.xml"))) {
                Path cache = cwd.resolve("target").resolve("djl-cache").toAbsolutePath();
                System.setProperty("ENGINE_CACHE_DIR", cache.toString());
                LOG.log(System.Logger.Level.DEBUG, "DJL native cache: {0}", cache);
            }
        }
        if (unset("OPT_OUT_TRACKING")) System.setProperty("OPT_OUT_TRACKING", "true");
    }

    private static boolean unset(String name) {
        String env = System.getenv(name), prop = System.getProperty(name);
        return (env == null || env.isEmpty()) && (prop == null || prop.isEmpty());
    }

    /** Options that turn off everything DJL adds on top of the tokenizer.json pipeline. */
    private static final Map<String, String> PLAIN = Map.of(
            "addSpecialTokens", "false", // no BOS/EOS from a post-processor
            "truncation", "false",       // DJL's default truncates every encode to 512 tokens
            "padding", "false");

    private final HuggingFaceTokenizer hf;
    /** The tokenizer.json this was loaded from. */
    public final Path tokenizerJson;
    private final int vocabSize;
    private final int bosId;
    private final int eosId;

    private HfTokenizer(HuggingFaceTokenizer hf, Path tokenizerJson, int vocabSize, int bosId, int eosId) {
        this.hf = hf;
        this.tokenizerJson = tokenizerJson;
        this.vocabSize = vocabSize;
        this.bosId = bosId;
        this.eosId = eosId;
    }

    /**
     * Loads {@code tokenizer.json}, given as the file or as the model directory that holds it. bos/eos
     * come from the files beside it, first found wins: generation_config.json, config.json
     * ({@code bos_token_id}, {@code eos_token_id}; a list counts by its first id), tokenizer_config.json
     * ({@code bos_token}, {@code eos_token} looked up in the vocabulary); -1 when none names one.
     */
    public static HfTokenizer load(Path tokenizerJsonOrModelDir) {
        Path json = Files.isDirectory(tokenizerJsonOrModelDir)
                ? tokenizerJsonOrModelDir.resolve("tokenizer.json") : tokenizerJsonOrModelDir;
        Vocab vocab = Vocab.read(json);
        Path dir = json.toAbsolutePath().getParent();
        int bos = specialId(dir, vocab, "bos");
        int eos = specialId(dir, vocab, "eos");
        return open(json, vocab, bos, eos);
    }

    /** Loads a tokenizer.json file with the given bos/eos ids (-1 for none), ignoring any files beside it. */
    public static HfTokenizer load(Path tokenizerJson, int bosId, int eosId) {
        Vocab vocab = Vocab.read(tokenizerJson);
        for (int id : new int[] {bosId, eosId}) {
            if (id < -1 || id >= vocab.size) {
                throw new IllegalArgumentException("bos/eos id " + id + " is outside the vocabulary of " + tokenizerJson
                        + " (ids 0.." + (vocab.size - 1) + "); pass -1 for none");
            }
        }
        return open(tokenizerJson, vocab, bosId, eosId);
    }

    private static HfTokenizer open(Path json, Vocab vocab, int bos, int eos) {
        try {
            return new HfTokenizer(HuggingFaceTokenizer.newInstance(json, PLAIN), json, vocab.size, bos, eos);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + json + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("the tokenizers library rejected " + json + ": " + e.getMessage()
                    + " (is it an HF tokenizers tokenizer.json?)", e);
        }
    }

    @Override
    public int[] encode(String text) {
        Encoding enc = hf.encode(text, false, false);
        if (enc.exceedMaxLength()) {
            // Truncation is switched off in PLAIN; if a DJL release ignored that, ids would be cut silently.
            throw new IllegalStateException("DJL truncated the encoding of a " + text.length()
                    + "-char text from " + tokenizerJson + "; truncation must be off");
        }
        long[] ids = enc.getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = (int) ids[i];
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] l = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("token id " + ids[i] + " at position " + i + " is outside the vocabulary of "
                        + tokenizerJson + " (ids 0.." + (vocabSize - 1) + ")");
            }
            l[i] = ids[i];
        }
        return hf.decode(l, true);
    }

    /** Largest id in the model vocabulary or the added tokens, plus one (Qwen2: 151,646, below config.json's padded 151,936). */
    @Override
    public int vocabSize() { return vocabSize; }

    @Override
    public int bosId() { return bosId; }

    @Override
    public int eosId() { return eosId; }

    /** Frees the native tokenizer. */
    @Override
    public void close() { hf.close(); }

    /** The parts of tokenizer.json that DJL does not expose: the id range and the token → id lookup. */
    private record Vocab(Path file, JsonObject vocab, JsonObject added, int size) {

        static Vocab read(Path json) {
            if (!Files.isRegularFile(json)) {
                throw new IllegalArgumentException("no tokenizer file at " + json
                        + " (pass a tokenizer.json or the model directory that holds one)");
            }
            JsonObject root;
            try {
                root = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + json + ": " + e.getMessage(), e);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(json + " is not a JSON object: " + e.getMessage(), e);
            }
            if (!root.has("model") || !root.getAsJsonObject("model").has("vocab")
                    || !root.getAsJsonObject("model").get("vocab").isJsonObject()) {
                throw new IllegalArgumentException(json + " has no model.vocab object; expected an HF tokenizers "
                        + "tokenizer.json with a BPE model (a WordPiece/Unigram file is not supported)");
            }
            JsonObject vocab = root.getAsJsonObject("model").getAsJsonObject("vocab");
            JsonObject added = new JsonObject();
            int max = -1;
            for (Map.Entry<String, JsonElement> e : vocab.entrySet()) max = Math.max(max, e.getValue().getAsInt());
            if (root.has("added_tokens") && root.get("added_tokens").isJsonArray()) {
                for (JsonElement t : root.getAsJsonArray("added_tokens")) {
                    JsonObject o = t.getAsJsonObject();
                    int id = o.get("id").getAsInt();
                    added.addProperty(o.get("content").getAsString(), id);
                    max = Math.max(max, id);
                }
            }
            if (max < 0) throw new IllegalArgumentException(json + " has an empty vocabulary");
            return new Vocab(json, vocab, added, max + 1);
        }

        /** Id of a token string, or -1. Added tokens first: they are the ones special tokens live in. */
        int id(String token) {
            if (added.has(token)) return added.get(token).getAsInt();
            if (vocab.has(token)) return vocab.get(token).getAsInt();
            return -1;
        }
    }

    /** bos or eos id from the config files in {@code dir}; -1 when none names one. */
    private static int specialId(Path dir, Vocab vocab, String which) {
        for (String name : new String[] {"generation_config.json", "config.json"}) {
            JsonObject o = readObject(dir.resolve(name));
            if (o == null) continue;
            JsonElement v = o.get(which + "_token_id");
            if (v == null || v.isJsonNull()) continue;
            if (v.isJsonArray()) {
                if (v.getAsJsonArray().isEmpty()) continue;
                v = v.getAsJsonArray().get(0);
            }
            int id;
            try {
                id = v.getAsInt();
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(dir.resolve(name) + ": " + which + "_token_id is " + v
                        + ", expected an integer or a list of integers", e);
            }
            if (id < 0 || id >= vocab.size) {
                throw new IllegalArgumentException(dir.resolve(name) + ": " + which + "_token_id " + id
                        + " is outside the vocabulary of " + vocab.file + " (ids 0.." + (vocab.size - 1) + ")");
            }
            return id;
        }
        JsonObject tc = readObject(dir.resolve("tokenizer_config.json"));
        if (tc == null) return -1;
        JsonElement v = tc.get(which + "_token");
        if (v == null || v.isJsonNull()) return -1;
        // Older configs store an AddedToken dict {"content": "...", ...} instead of the bare string.
        String token = v.isJsonObject() ? v.getAsJsonObject().get("content").getAsString() : v.getAsString();
        int id = vocab.id(token);
        if (id < 0) {
            throw new IllegalArgumentException(dir.resolve("tokenizer_config.json") + ": " + which + "_token \""
                    + token + "\" is not a token of " + vocab.file + " (fix the config or the tokenizer)");
        }
        return id;
    }

    private static JsonObject readObject(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try {
            return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(file + " is not a JSON object: " + e.getMessage(), e);
        }
    }
}
