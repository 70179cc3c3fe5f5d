package dev.caldera4j.calib;

import org.tukaani.xz.XZInputStream;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The training corpus as UTF-8 bytes: text files ({@code *.txt.xz} or {@code *.txt}) of documents
 * separated by blank lines, the layout of {@code ../shared/data/train/corpus}. Calibration windows
 * are drawn from here and never from an evaluation set.
 *
 * <p>Files are read in name order, so the same directory always gives the same corpus. The bytes
 * stay UTF-8 (the shared corpus is ~76 MB decompressed; as Java Strings it could double).
 */
public final class Corpus {

    /** Byte range [start, end) of one document in file {@code file}'s text: first to last non-blank line. */
    public record Document(int file, int start, int end) {
        public int length() {
            return end - start;
        }
    }

    private final List<String> names;   // file names, sorted
    private final List<byte[]> texts;   // (file) UTF-8 bytes
    private final List<Document> docs;  // in file order, then position
    private final long[] cumulative;    // (docs+1) prefix sums of document lengths

    private Corpus(List<String> names, List<byte[]> texts) {
        this.names = List.copyOf(names);
        this.texts = List.copyOf(texts);
        List<Document> d = new ArrayList<>();
        for (int f = 0; f < texts.size(); f++) splitDocuments(f, texts.get(f), d);
        this.docs = List.copyOf(d);
        cumulative = new long[docs.size() + 1];
        for (int i = 0; i < docs.size(); i++) cumulative[i + 1] = cumulative[i] + docs.get(i).length();
    }

    /** The shared training corpus: {@code -Dcaldera4j.shared} (default ../shared) + /data/train/corpus. */
    public static Path defaultDir() {
        return Path.of(System.getProperty("caldera4j.shared", "../shared")).resolve("data/train/corpus");
    }

    /**
     * Reads a directory's {@code *.txt.xz} and {@code *.txt} files (name order), or one such file.
     *
     * @throws IllegalArgumentException when the path is missing or holds no such file
     */
    public static Corpus load(Path dirOrFile) {
        List<Path> files;
        if (Files.isDirectory(dirOrFile)) {
            try (Stream<Path> s = Files.list(dirOrFile)) {
                files = s.filter(p -> isText(p.getFileName().toString()) && Files.isRegularFile(p)).sorted().toList();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list corpus directory " + dirOrFile + ": " + e.getMessage(), e);
            }
        } else if (Files.isRegularFile(dirOrFile) && isText(dirOrFile.getFileName().toString())) {
            files = List.of(dirOrFile);
        } else {
            throw new IllegalArgumentException("corpus " + dirOrFile + " is neither a directory of *.txt.xz / *.txt files nor"
                    + " one such file: pass the training corpus (default " + defaultDir() + ")");
        }
        if (files.isEmpty()) {
            throw new IllegalArgumentException("corpus directory " + dirOrFile + " holds no *.txt.xz or *.txt file:"
                    + " pass the training corpus (default " + defaultDir() + ")");
        }
        List<String> names = new ArrayList<>();
        List<byte[]> texts = new ArrayList<>();
        for (Path p : files) {
            names.add(p.getFileName().toString());
            texts.add(read(p));
        }
        return new Corpus(names, texts);
    }

    /** A corpus of one in-memory text (tests, notebooks). */
    public static Corpus of(String name, String text) {
        return new Corpus(List.of(name), List.of(text.getBytes(StandardCharsets.UTF_8)));
    }

    private static boolean isText(String name) {
        return name.endsWith(".txt.xz") || name.endsWith(".txt");
    }

    private static byte[] read(Path p) {
        try (InputStream raw = Files.newInputStream(p);
             InputStream in = p.getFileName().toString().endsWith(".xz") ? new XZInputStream(raw) : raw) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read corpus file " + p + ": " + e.getMessage()
                    + (p.toString().endsWith(".xz") ? " (is it a complete .xz file?)" : ""), e);
        }
    }

    /** Documents of one text: maximal runs of non-blank lines (a blank line holds only spaces, tabs or \r). */
    private static void splitDocuments(int file, byte[] t, List<Document> out) {
        int docStart = -1, lastEnd = -1;
        for (int lineStart = 0; lineStart < t.length; ) {
            int nl = lineStart;
            while (nl < t.length && t[nl] != '\n') nl++;
            boolean blank = true;
            for (int i = lineStart; i < nl && blank; i++) blank = t[i] == ' ' || t[i] == '\t' || t[i] == '\r';
            if (blank) {
                if (docStart >= 0) out.add(new Document(file, docStart, lastEnd));
                docStart = -1;
            } else {
                if (docStart < 0) docStart = lineStart;
                lastEnd = nl;
            }
            lineStart = nl + 1;
        }
        if (docStart >= 0) out.add(new Document(file, docStart, lastEnd));
    }

    /** File names in reading order. */
    public List<String> names() {
        return names;
    }

    /** Documents in file order. */
    public List<Document> documents() {
        return docs;
    }

    /** Bytes over all documents (blank separator lines not counted). */
    public long documentBytes() {
        return cumulative[docs.size()];
    }

    /** Decompressed bytes of each file, in {@link #names()} order. */
    public long[] fileBytes() {
        long[] b = new long[texts.size()];
        for (int i = 0; i < b.length; i++) b[i] = texts.get(i).length;
        return b;
    }

    /** The document holding byte {@code u} of the concatenated documents, 0 ≤ u < documentBytes(). */
    int documentAt(long u) {
        int lo = 0, hi = docs.size() - 1;
        while (lo < hi) { // last i with cumulative[i] ≤ u
            int mid = (lo + hi + 1) >>> 1;
            if (cumulative[mid] <= u) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /** Start offset (in its file) of byte {@code u} of the concatenated documents. */
    long offsetInFile(int doc, long u) {
        return docs.get(doc).start() + (u - cumulative[doc]);
    }

    /** The start of the line holding byte {@code pos} of document {@code d}. */
    int lineStart(Document d, int pos) {
        byte[] t = texts.get(d.file());
        int p = pos;
        while (p > d.start() && t[p - 1] != '\n') p--;
        return p;
    }

    /**
     * Text of bytes [from, from+len) of a file, len shortened so the cut does not split a UTF-8
     * sequence (never past the cut: trailing continuation bytes are dropped with their lead byte).
     */
    String text(int file, int from, int len) {
        byte[] t = texts.get(file);
        int end = from + len;
        if (end < t.length) {
            while (end > from && (t[end] & 0xC0) == 0x80) end--; // t[end] starts the next character
        }
        return new String(t, from, end - from, StandardCharsets.UTF_8);
    }
}
