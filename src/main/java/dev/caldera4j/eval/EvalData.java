package dev.caldera4j.eval;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream;

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Loaders for the evaluation sets under {@code <shared>/data/eval} (DESIGN "Evaluation protocol").
 * Text is built exactly as the reference evaluation built it; the token counts this gives with
 * standin-small's tokenizer (WikiText-2 381,159, C4 270,822) are checked by EvalDataTest.
 */
public final class EvalData {
    /** Paths relative to the eval directory. */
    public static final String WIKITEXT2 = "wikitext-2/wiki.test.raw";
    public static final String C4 = "c4/c4_validation_samples.jsonl";
    public static final String LAMBADA = "lambada/lambada_test.jsonl";
    public static final String HELLASWAG = "hellaswag/hellaswag_val_full.txt.bz2";

    private EvalData() {}

    /** {@code <shared>/data/eval}, shared from -Dcaldera4j.shared (default "../shared"). */
    public static Path defaultDir() {
        return Path.of(System.getProperty("caldera4j.shared", "../shared"), "data", "eval");
    }

    /**
     * WikiText-2 test: the lines of wiki.test.raw, each keeping its "\n", joined by "\n\n" (the
     * HF dataset's rows joined as GPTQ does; blank rows are the file's " \n" lines).
     */
    public static String wikitext2(Path evalDir) {
        String raw = read(evalDir.resolve(WIKITEXT2));
        List<String> rows = new ArrayList<>();
        int start = 0;
        while (start < raw.length()) {
            int nl = raw.indexOf('\n', start);
            int end = nl < 0 ? raw.length() : nl + 1;
            rows.add(raw.substring(start, end));
            start = end;
        }
        return String.join("\n\n", rows);
    }

    /** C4 sample: the records' "text" joined by "\n\n". */
    public static String c4(Path evalDir) {
        Path file = evalDir.resolve(C4);
        return String.join("\n\n", jsonlTexts(file));
    }

    /** LAMBADA (OpenAI): every record's "text" split at its last space. */
    public static List<Lambada.Item> lambada(Path evalDir) {
        Path file = evalDir.resolve(LAMBADA);
        List<Lambada.Item> items = new ArrayList<>();
        for (String text : jsonlTexts(file)) {
            items.add(Lambada.parse(text));
        }
        return items;
    }

    /**
     * HellaSwag in llama.cpp's text format, bzip2-compressed: 6 lines per task (context, gold label
     * 0-3, 4 endings).
     */
    public static List<HellaSwag.Task> hellaSwag(Path evalDir) {
        Path file = evalDir.resolve(HELLASWAG);
        List<String> lines = new ArrayList<>();
        // BZip2CompressorInputStream reads its source a byte at a time: buffer it (~3× faster here)
        try (InputStream in = new BZip2CompressorInputStream(new BufferedInputStream(Files.newInputStream(requireFile(file)), 1 << 16));
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                lines.add(line);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + " as bzip2 text: " + e.getMessage(), e);
        }
        if (lines.size() % 6 != 0) {
            throw new IllegalArgumentException(file + " has " + lines.size()
                    + " lines, not a multiple of 6 (context, gold, 4 endings per task): the file is cut or not llama.cpp's format");
        }
        List<HellaSwag.Task> tasks = new ArrayList<>(lines.size() / 6);
        for (int i = 0; i < lines.size(); i += 6) {
            int gold;
            try {
                gold = Integer.parseInt(lines.get(i + 1).strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(file + " line " + (i + 2) + ": gold label \""
                        + lines.get(i + 1) + "\" is not an integer 0-3: the 6-line task layout is off", e);
            }
            tasks.add(new HellaSwag.Task(lines.get(i), gold, lines.subList(i + 2, i + 6)));
        }
        return tasks;
    }

    private static List<String> jsonlTexts(Path file) {
        List<String> texts = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(requireFile(file), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            try {
                JsonElement root = JsonParser.parseString(lines.get(i));
                JsonElement text = root.isJsonObject() ? ((JsonObject) root).get("text") : null;
                if (text == null || !text.isJsonPrimitive() || !text.getAsJsonPrimitive().isString()) {
                    throw new IllegalArgumentException(file + " line " + (i + 1)
                            + ": record has no string field \"text\"");
                }
                texts.add(text.getAsString());
            } catch (JsonParseException e) {
                throw new IllegalArgumentException(file + " line " + (i + 1) + " is not JSON: " + e.getMessage(), e);
            }
        }
        return texts;
    }

    private static String read(Path file) {
        try {
            return Files.readString(requireFile(file), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static Path requireFile(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("evaluation data file " + file.toAbsolutePath().normalize()
                    + " is missing: point -Dcaldera4j.shared at the shared folder (it holds data/eval/…)");
        }
        return file;
    }
}
