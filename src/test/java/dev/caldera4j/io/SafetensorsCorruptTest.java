package dev.caldera4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hand-made broken files, one per failure SafetensorsFile.open must catch. Each asserts that the
 * message names the file, the tensor where there is one, the problem, and ends with a hint in parentheses.
 */
class SafetensorsCorruptTest {

    @TempDir
    Path tmp;

    /** open(p) must fail; the message must name the file, the tensor (or none) and contain every fragment. */
    static SafetensorsException fails(Path p, String tensor, String... fragments) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(p));
        String m = e.getMessage();
        assertTrue(m.startsWith(p.toString() + ": "), "names the file: " + m);
        assertEquals(p, e.file());
        if (tensor == null) {
            assertNull(e.tensor(), m);
        } else {
            assertEquals(tensor, e.tensor(), m);
            assertTrue(m.contains("tensor '" + tensor + "'"), "names the tensor: " + m);
        }
        for (String f : fragments) assertTrue(m.contains(f), "mentions '" + f + "': " + m);
        assertTrue(m.endsWith(")") && m.contains(" ("), "ends with a hint: " + m);
        return e;
    }

    static final String OK_ENTRY = "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    @Test
    void fileShorterThan8Bytes() throws IOException {
        fails(Files.write(tmp.resolve("empty.safetensors"), new byte[0]), null, "0 bytes", "truncated");
        fails(Files.write(tmp.resolve("five.safetensors"), new byte[5]), null, "5 bytes", "truncated");
    }

    @Test
    void headerLengthPastTheEndOfTheFile() throws IOException {
        byte[] h = ("{" + OK_ENTRY + "}").getBytes(StandardCharsets.UTF_8);
        fails(Craft.raw(tmp.resolve("t.safetensors"), 1000, h, 8), null, "header length 1000", "past the end", "truncated");
    }

    @Test
    void headerLengthAbsurd() throws IOException {
        fails(Craft.raw(tmp.resolve("a.safetensors"), 200L << 20, new byte[16], 0), null, "absurd", "not a safetensors file");
        // top bit set: a negative Java long, reported as the unsigned value
        fails(Craft.raw(tmp.resolve("b.safetensors"), -1L, new byte[16], 0), null, "18446744073709551615", "absurd");
    }

    @Test
    void malformedJson() throws IOException {
        fails(Craft.file(tmp.resolve("a.safetensors"), "{\"w\": {\"dtype\":", 8), "w", "malformed JSON");
        fails(Craft.file(tmp.resolve("b.safetensors"), "[1, 2]", 0), null, "malformed JSON", "expected an object");
        fails(Craft.file(tmp.resolve("c.safetensors"), "{" + OK_ENTRY + "} x", 8), null, "malformed JSON", "after the closing brace");
        fails(Craft.file(tmp.resolve("d.safetensors"), "", 0), null, "malformed JSON");
        fails(Craft.file(tmp.resolve("e.safetensors"), "{'w': 1}", 0), null, "malformed JSON");  // STRICT: no single quotes
        byte[] badUtf8 = {'{', '"', (byte) 0xC3, '"', ':', '1', '}'};
        fails(Craft.raw(tmp.resolve("f.safetensors"), badUtf8.length, badUtf8, 0), null, "UTF-8");
    }

    @Test
    void entryMissingDtypeShapeOrOffsets() throws IOException {
        fails(Craft.file(tmp.resolve("a.safetensors"), "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "w", "lacks \"dtype\"");
        fails(Craft.file(tmp.resolve("b.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8),
                "w", "lacks \"shape\"");
        fails(Craft.file(tmp.resolve("c.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8),
                "w", "lacks \"data_offsets\"");
        fails(Craft.file(tmp.resolve("d.safetensors"), "{\"w\":[1,2]}", 8), "w", "not an object");
        fails(Craft.file(tmp.resolve("e.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8),
                "w", "not a pair");
    }

    @Test
    void unknownDtype() throws IOException {
        fails(Craft.file(tmp.resolve("a.safetensors"), "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2),
                "w", "unknown dtype \"F8_E4M3\"", "BF16");
        fails(Craft.file(tmp.resolve("b.safetensors"), "{\"w\":{\"dtype\":\"bf16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4),
                "w", "unknown dtype \"bf16\"", "upper case");
        fails(Craft.file(tmp.resolve("c.safetensors"), "{\"w\":{\"dtype\":16,\"shape\":[2],\"data_offsets\":[0,4]}}", 4),
                "w", "not a string");
    }

    @Test
    void negativeNonIntegerOrOverflowingShape() throws IOException {
        fails(Craft.file(tmp.resolve("a.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8),
                "w", "negative value -2");
        fails(Craft.file(tmp.resolve("b.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 8),
                "w", "overflows a 64-bit byte count");
        // the product fits in a long but the byte count (× 4) does not
        fails(Craft.file(tmp.resolve("c.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8),
                "w", "overflows");
        fails(Craft.file(tmp.resolve("d.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8),
                "w", "overflows a 64-bit integer");
        fails(Craft.file(tmp.resolve("e.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8),
                "w", "not an integer");
        fails(Craft.file(tmp.resolve("f.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8),
                "w", "not an array");
    }

    @Test
    void byteCountDisagreesWithOffsets() throws IOException {
        fails(Craft.file(tmp.resolve("a.safetensors"), "{\"w\":{\"dtype\":\"BF16\",\"shape\":[3,5],\"data_offsets\":[0,32]}}", 32),
                "w", "needs 30 bytes", "span 32");
        fails(Craft.file(tmp.resolve("b.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}}", 4),
                "w", "needs 4 bytes", "span 0");
    }

    @Test
    void offsetsOutOfRange() throws IOException {
        fails(Craft.file(tmp.resolve("a.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8),
                "w", "run past the data buffer of 8 bytes");
        fails(Craft.file(tmp.resolve("b.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8),
                "w", "end before they begin");
        fails(Craft.file(tmp.resolve("c.safetensors"), "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8),
                "w", "negative value -8");
    }

    @Test
    void overlappingTensors() throws IOException {
        String h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"   // empty: occupies no byte, allowed
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}";
        fails(Craft.file(tmp.resolve("a.safetensors"), h, 20), "b", "overlap tensor 'a'");
        // header order is irrelevant: the later one by offset is named
        String h2 = "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
        fails(Craft.file(tmp.resolve("b.safetensors"), h2, 20), "b", "overlap tensor 'a'");
    }

    @Test
    void duplicateNamesAndBadMetadata() throws IOException {
        fails(Craft.file(tmp.resolve("a.safetensors"), "{" + OK_ENTRY + "," + OK_ENTRY + "}", 8), "w", "appears twice");
        fails(Craft.file(tmp.resolve("b.safetensors"), "{\"__metadata__\":{\"n\":3}," + OK_ENTRY + "}", 8),
                "__metadata__", "'n'", "not a string");
    }

    @Test
    void gapsBetweenTensorsAreToleratedAndReadCorrectly() throws IOException {
        // the spec asks for full coverage; a gap loses nothing, so it is accepted (overlaps are not)
        String h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[9,10]}}  ";
        Path p = Craft.file(tmp.resolve("gap.safetensors"), h, 12);
        byte[] f = Files.readAllBytes(p);
        int d = Craft.dataStart(f);
        f[d + 4] = 11;
        f[d + 5] = 12;
        f[d + 9] = 13;
        Files.write(p, f);
        try (SafetensorsFile s = SafetensorsFile.open(p)) {
            assertArrayEquals(new byte[] {11, 12}, s.bytes("a"));
            assertArrayEquals(new byte[] {13}, s.bytes("b"));
            assertEquals(java.util.List.of("a", "b"), s.names(), "header order");
        }
    }

    @Test
    void missingFile() {
        fails(tmp.resolve("nope.safetensors"), null, "no such file");
    }
}
