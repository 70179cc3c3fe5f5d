package dev.caldera4j.tokenizer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds Qwen2's HF tokenizers {@code tokenizer.json} from its "slow" files, {@code vocab.json} and
 * {@code merges.txt}, the same pipeline as Qwen2TokenizerFast: NFC, then Qwen2's split pattern
 * (isolated pieces), then byte-level mapping without a prefix space; BPE without unk or byte
 * fallback; byte-level decoder; three special added tokens after the regular vocabulary. The shared
 * data holds only the slow files (the 7 MB tokenizer.json was not obtainable), so this is how a
 * Qwen2 tokenizer is made; load the result with {@link HfTokenizer#load(Path, int, int)}.
 */
public final class Qwen2TokenizerBuilder {

    private Qwen2TokenizerBuilder() {}

    /** Qwen2's pre-tokenizer split pattern (its tokenizer.json and Qwen2TokenizerFast). */
    public static final String PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** Qwen2's special tokens and their ids, right after the 151,643 regular tokens. */
    public static final Map<String, Integer> SPECIAL = Map.of(
            "<|endoftext|>", 151643,
            "<|im_start|>", 151644,
            "<|im_end|>", 151645);

    /** Id of {@code <|endoftext|>}: Qwen2 base models' eos (and bos in config.json). */
    public static final int ENDOFTEXT = 151643;

    /**
     * Writes tokenizer.json to {@code out} atomically (temp file beside it, then rename), replacing
     * any file there. Checks that ids are 0..n-1 without gaps, that the special ids follow the
     * vocabulary, and that every merge joins two tokens of the vocabulary into a third.
     */
    public static void write(Path vocabJson, Path mergesTxt, Path out) {
        String[] tokens = readVocab(vocabJson);          // (n) token string of each id
        List<String> merges = readMerges(mergesTxt, vocabJson, tokens);
        if (tokens.length != ENDOFTEXT) {
            // HF tokenizers renumbers added tokens to close a gap after the vocabulary (seen: 3 tokens gave
            // <|im_start|> id 4), and an overlap would clash, so the special ids must follow it directly.
            throw new IllegalArgumentException(vocabJson + " has " + tokens.length + " tokens; Qwen2's special ids "
                    + ENDOFTEXT + ".." + (ENDOFTEXT + 2) + " need exactly " + ENDOFTEXT + " before them "
                    + "(pass Qwen2's own vocab.json)");
        }
        Path dir = out.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, out.getFileName().toString(), ".tmp");
            try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8);
                 JsonWriter j = new JsonWriter(w)) {
                j.setHtmlSafe(false);
                writeJson(j, tokens, merges);
            }
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write already failed and is being reported; a stray temp file is the lesser problem
                }
            }
        }
    }

    private static String[] readVocab(Path vocabJson) {
        JsonObject o;
        try {
            o = JsonParser.parseString(Files.readString(vocabJson)).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + vocabJson + ": " + e.getMessage()
                    + " (pass Qwen2's vocab.json)", e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(vocabJson + " is not a JSON object of token → id: " + e.getMessage(), e);
        }
        String[] tokens = new String[o.size()];
        for (Map.Entry<String, JsonElement> e : o.entrySet()) {
            int id = e.getValue().getAsInt();
            if (id < 0 || id >= tokens.length) {
                throw new IllegalArgumentException(vocabJson + ": token \"" + e.getKey() + "\" has id " + id
                        + ", outside 0.." + (tokens.length - 1) + " (ids must run 0..n-1 without gaps)");
            }
            if (tokens[id] != null) {
                throw new IllegalArgumentException(vocabJson + ": id " + id + " is given to both \"" + tokens[id]
                        + "\" and \"" + e.getKey() + "\"");
            }
            tokens[id] = e.getKey();
        }
        return tokens;
    }

    private static List<String> readMerges(Path mergesTxt, Path vocabJson, String[] tokens) {
        List<String> lines;
        try {
            lines = Files.readAllLines(mergesTxt, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + mergesTxt + ": " + e.getMessage()
                    + " (pass Qwen2's merges.txt)", e);
        }
        Set<String> known = new HashSet<>(List.of(tokens));
        List<String> merges = new ArrayList<>(lines.size());
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            // Only the first line may be the "#version" header: "#" is itself a byte-level token, so a
            // later line starting with "#" is a real merge.
            if (i == 0 && line.startsWith("#version")) continue;
            if (line.isEmpty()) continue;
            int sp = line.indexOf(' ');
            if (sp <= 0 || sp == line.length() - 1 || line.indexOf(' ', sp + 1) >= 0) {
                throw new IllegalArgumentException(mergesTxt + " line " + (i + 1) + ": \"" + line
                        + "\" is not two tokens separated by one space");
            }
            String a = line.substring(0, sp), b = line.substring(sp + 1);
            if (!known.contains(a) || !known.contains(b) || !known.contains(a + b)) {
                throw new IllegalArgumentException(mergesTxt + " line " + (i + 1) + ": merge \"" + line
                        + "\" uses or makes a token missing from " + vocabJson + " (are the two files from the same release?)");
            }
            merges.add(line);
        }
        return merges;
    }

    private static void writeJson(JsonWriter j, String[] tokens, List<String> merges) throws IOException {
        j.beginObject();
        j.name("version").value("1.0");
        j.name("truncation").nullValue();
        j.name("padding").nullValue();

        j.name("added_tokens").beginArray();
        for (Map.Entry<String, Integer> s : SPECIAL.entrySet().stream().sorted(Map.Entry.comparingByValue()).toList()) {
            j.beginObject();
            j.name("id").value(s.getValue());
            j.name("content").value(s.getKey());
            j.name("single_word").value(false);
            j.name("lstrip").value(false);
            j.name("rstrip").value(false);
            j.name("normalized").value(false);
            j.name("special").value(true);
            j.endObject();
        }
        j.endArray();

        j.name("normalizer").beginObject().name("type").value("NFC").endObject();

        j.name("pre_tokenizer").beginObject();
        j.name("type").value("Sequence");
        j.name("pretokenizers").beginArray();
        j.beginObject();
        j.name("type").value("Split");
        j.name("pattern").beginObject().name("Regex").value(PATTERN).endObject();
        j.name("behavior").value("Isolated");
        j.name("invert").value(false);
        j.endObject();
        byteLevel(j);
        j.endArray();
        j.endObject();

        // A ByteLevel post-processor (as in Qwen2's own file) only trims offsets, which are never used here.
        j.name("post_processor").nullValue();
        j.name("decoder");
        byteLevel(j);

        j.name("model").beginObject();
        j.name("type").value("BPE");
        j.name("dropout").nullValue();
        j.name("unk_token").nullValue();
        j.name("continuing_subword_prefix").nullValue();
        j.name("end_of_word_suffix").nullValue();
        j.name("fuse_unk").value(false);
        j.name("byte_fallback").value(false);
        j.name("ignore_merges").value(false);
        j.name("vocab").beginObject();
        for (int id = 0; id < tokens.length; id++) j.name(tokens[id]).value(id);
        j.endObject();
        j.name("merges").beginArray();
        for (String m : merges) j.value(m);
        j.endArray();
        j.endObject();

        j.endObject();
    }

    private static void byteLevel(JsonWriter j) throws IOException {
        j.beginObject();
        j.name("type").value("ByteLevel");
        j.name("add_prefix_space").value(false);
        j.name("trim_offsets").value(false);
        j.name("use_regex").value(false);
        j.endObject();
    }
}
