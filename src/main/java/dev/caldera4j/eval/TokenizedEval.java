package dev.caldera4j.eval;

import dev.caldera4j.tokenizer.Tokenizer;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.ZipException;

/**
 * The evaluation sets already tokenized: every token id the protocol feeds a model (each
 * perplexity set's whole text, every LAMBADA pair, every HellaSwag task's four pairs and ending
 * lengths), made here with the model's tokenizer and read back where the tokenizer cannot run —
 * the GPU host has no DJL tokenizer natives and no copy of the evaluation texts. Evaluating from
 * it ({@link Evaluator#run(dev.caldera4j.model.LanguageModel, TokenizedEval, EvalMode, List, boolean)})
 * gives exactly what evaluating from the texts gives (EvaluatorTest checks it).
 *
 * <p>File: gzip of a big-endian stream — magic, version, the tokenizer's SHA-256 (of the file
 * {@link #tokenizerId} reads), its vocabulary size, a description, then the sets. gzip's CRC-32
 * catches a damaged file; written to a temporary file and moved into place.
 *
 * @param tokenizerId SHA-256 hex of the tokenizer file(s) the ids come from ({@link #tokenizerId})
 * @param vocabSize   the tokenizer's vocabulary size
 * @param description where the texts came from (file names), for the reader
 * @param tokens      (N) ids of each perplexity set's whole text
 * @param lambada     every LAMBADA item as a (context, target) pair; empty when not chosen
 * @param hellaSwag   every HellaSwag task; empty when not chosen
 * @param sets        the sets it holds
 */
public record TokenizedEval(String tokenizerId, int vocabSize, String description, Map<EvalSet, int[]> tokens,
                            List<Loglikelihood.Pair> lambada, List<HellaSwag.Encoded> hellaSwag, Set<EvalSet> sets) {
    private static final String MAGIC = "caldera4j-eval-tokens";
    private static final int VERSION = 1;

    public TokenizedEval {
        tokens = Map.copyOf(tokens);
        lambada = List.copyOf(lambada);
        hellaSwag = List.copyOf(hellaSwag);
        sets = Set.copyOf(sets);
    }

    /** Tokenizes everything in {@code in} (all items, whatever a mode later uses). */
    public static TokenizedEval of(Tokenizer tokenizer, String tokenizerId, Evaluator.Inputs in, String description) {
        List<Loglikelihood.Pair> lambada = in.sets().contains(EvalSet.LAMBADA)
                ? Lambada.encode(tokenizer, in.lambada(), in.lambada().size()) : List.of();
        List<HellaSwag.Encoded> hs = in.sets().contains(EvalSet.HELLASWAG)
                ? HellaSwag.encode(tokenizer, in.hellaSwag(), in.hellaSwag().size()) : List.of();
        return new TokenizedEval(tokenizerId, tokenizer.vocabSize(), description, in.tokens(), lambada, hs, in.sets());
    }

    /**
     * Only the chosen sets (what {@code eval --sets} asks for); refuses a set the file does not hold.
     */
    public TokenizedEval restrictTo(Set<EvalSet> chosen) {
        if (!sets.containsAll(chosen)) {
            Set<EvalSet> missing = EnumSet.copyOf(chosen);
            missing.removeAll(sets);
            throw new IllegalArgumentException("the evaluation tokens hold " + sorted(sets) + " but not " + sorted(missing)
                    + ": pass --sets within what they hold, or remake them with tokenize-eval");
        }
        Map<EvalSet, int[]> kept = new EnumMap<>(EvalSet.class);
        tokens.forEach((s, ids) -> {
            if (chosen.contains(s)) kept.put(s, ids);
        });
        return new TokenizedEval(tokenizerId, vocabSize, description, kept,
                chosen.contains(EvalSet.LAMBADA) ? lambada : List.of(),
                chosen.contains(EvalSet.HELLASWAG) ? hellaSwag : List.of(), chosen);
    }

    private static List<EvalSet> sorted(java.util.Collection<EvalSet> sets) {
        return sets.stream().sorted().toList();
    }

    /**
     * SHA-256 (hex) of a model directory's tokenizer: tokenizer.json when present, else the
     * llama2.c tokenizer files (tokenizer.bin, tok*.bin) in name order — the files
     * {@link dev.caldera4j.tokenizer.Tokenizers#load} reads.
     */
    public static String tokenizerId(Path modelDir) {
        List<Path> files;
        Path json = modelDir.resolve("tokenizer.json");
        if (Files.isRegularFile(json)) {
            files = List.of(json);
        } else {
            try (Stream<Path> s = Files.list(modelDir)) {
                files = s.filter(p -> p.getFileName().toString().matches("tokenizer\\.bin|tok[0-9]+\\.bin")).sorted().toList();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list " + modelDir + ": " + e.getMessage(), e);
            }
        }
        if (files.isEmpty()) {
            throw new IllegalArgumentException(modelDir + " has no tokenizer file (tokenizer.json, tokenizer.bin or tok<N>.bin):"
                    + " copy the model's tokenizer.json beside its weights");
        }
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (Path f : files) md.update(Files.readAllBytes(f));
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + files + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Refuses a model whose tokenizer is not the one these ids come from (ids of another
     * vocabulary would evaluate garbage without any error).
     */
    public void requireTokenizer(Path modelDir) {
        String id = tokenizerId(modelDir);
        if (!id.equals(tokenizerId)) {
            throw new IllegalArgumentException(modelDir + "'s tokenizer (sha256 " + id.substring(0, 12) + "…) is not the one the"
                    + " evaluation tokens were made with (" + tokenizerId.substring(0, 12) + "…): run tokenize-eval with this model");
        }
    }

    /** Writes the file (a temporary file moved into place). */
    public void write(Path file) {
        Path abs = file.toAbsolutePath();
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        try {
            if (abs.getParent() != null) Files.createDirectories(abs.getParent());
            try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(
                    new GZIPOutputStream(Files.newOutputStream(tmp), 1 << 16), 1 << 16))) {
                out.writeUTF(MAGIC);
                out.writeInt(VERSION);
                out.writeUTF(tokenizerId);
                out.writeInt(vocabSize);
                out.writeUTF(description);
                out.writeInt(sets.size());
                for (EvalSet s : sorted(sets)) out.writeUTF(s.name());
                out.writeInt(tokens.size());
                for (EvalSet s : sorted(tokens.keySet())) {
                    out.writeUTF(s.name());
                    writeInts(out, tokens.get(s));
                }
                out.writeInt(lambada.size());
                for (Loglikelihood.Pair p : lambada) writePair(out, p);
                out.writeInt(hellaSwag.size());
                for (HellaSwag.Encoded t : hellaSwag) {
                    out.writeInt(t.gold());
                    for (int e = 0; e < 4; e++) {
                        out.writeInt(t.endingChars()[e]);
                        writePair(out, t.pairs()[e]);
                    }
                }
            }
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the write error below is the one to report
            }
            throw new UncheckedIOException("cannot write " + abs + ": " + e.getMessage(), e);
        }
    }

    /** Reads a file {@link #write} made; a damaged or foreign file is refused with the reason. */
    public static TokenizedEval read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("evaluation tokens " + file.toAbsolutePath() + " not found:"
                    + " make them with `caldera4j tokenize-eval --model <dir> --out " + file + "`");
        }
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
             DataInputStream in = new DataInputStream(new BufferedInputStream(new GZIPInputStream(raw, 1 << 16), 1 << 16))) {
            String magic = in.readUTF();
            if (!MAGIC.equals(magic)) throw new IllegalArgumentException(file + " is not a caldera4j evaluation-tokens file");
            int version = in.readInt();
            if (version != VERSION) {
                throw new IllegalArgumentException(file + " is evaluation-tokens version " + version + "; this build reads "
                        + VERSION + ": remake it with tokenize-eval");
            }
            String tokId = in.readUTF();
            int vocab = in.readInt();
            String description = in.readUTF();
            Set<EvalSet> sets = EnumSet.noneOf(EvalSet.class);
            for (int i = in.readInt(); i > 0; i--) sets.add(EvalSet.valueOf(in.readUTF()));
            Map<EvalSet, int[]> tokens = new EnumMap<>(EvalSet.class);
            for (int i = in.readInt(); i > 0; i--) {
                EvalSet s = EvalSet.valueOf(in.readUTF());
                tokens.put(s, readInts(in, vocab));
            }
            List<Loglikelihood.Pair> lambada = new ArrayList<>();
            for (int i = in.readInt(); i > 0; i--) lambada.add(readPair(in, vocab));
            List<HellaSwag.Encoded> hs = new ArrayList<>();
            for (int i = in.readInt(); i > 0; i--) {
                int gold = in.readInt();
                Loglikelihood.Pair[] pairs = new Loglikelihood.Pair[4];
                int[] chars = new int[4];
                for (int e = 0; e < 4; e++) {
                    chars[e] = in.readInt();
                    pairs[e] = readPair(in, vocab);
                }
                hs.add(new HellaSwag.Encoded(pairs, gold, chars));
            }
            if (in.read() != -1) throw new IllegalArgumentException(file + " has bytes after its last record: the file is damaged");
            return new TokenizedEval(tokId, vocab, description, tokens, lambada, hs, sets);
        } catch (EOFException e) {
            throw new IllegalArgumentException(file + " ends early: the file is cut; remake it with tokenize-eval", e);
        } catch (ZipException | Damaged e) {
            throw new IllegalArgumentException(file + " is damaged (" + e.getMessage() + "); remake it with tokenize-eval", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static void writePair(DataOutputStream out, Loglikelihood.Pair p) throws IOException {
        writeInts(out, p.context());
        writeInts(out, p.continuation());
    }

    private static Loglikelihood.Pair readPair(DataInputStream in, int vocab) throws IOException {
        return new Loglikelihood.Pair(readInts(in, vocab), readInts(in, vocab));
    }

    private static void writeInts(DataOutputStream out, int[] a) throws IOException {
        out.writeInt(a.length);
        for (int v : a) out.writeInt(v);
    }

    private static int[] readInts(DataInputStream in, int vocab) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > 1 << 28) throw new Damaged("implausible array length " + n);
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = in.readInt();
            if (a[i] < 0 || a[i] >= vocab) throw new Damaged("token id " + a[i] + " outside the vocabulary of " + vocab);
        }
        return a;
    }

    /** Content that cannot be what {@link #write} wrote. */
    private static final class Damaged extends IOException {
        Damaged(String message) {
            super(message);
        }
    }
}
