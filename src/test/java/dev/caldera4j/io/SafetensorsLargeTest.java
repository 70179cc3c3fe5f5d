package dev.caldera4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Tensors past 2 GB, in a sparse file: the header declares them and RandomAccessFile.setLength
 * extends the file without writing the zeros, so the test costs a few pages of real I/O.
 */
class SafetensorsLargeTest {

    @TempDir
    Path tmp;

    static final long ROWS = 1_310_720, COLS = 1024;        // emb: BF16 (ROWS, COLS) = 2.5 GiB, like Qwen2-72B's 2.49 GB embedding
    static final long EMB_BYTES = ROWS * COLS * 2;          // 2,684,354,560
    static final long HUGE_BYTES = 1L << 31;                // huge: U8 [2^31], one element more than a Java array holds
    static final long TAIL_BEGIN = EMB_BYTES + HUGE_BYTES;  // tail: F32 [4] beyond 4 GiB

    /** Writes the little-endian bytes of v (width bytes) at absolute file position pos. */
    static void put(RandomAccessFile f, long pos, long v, int width) throws IOException {
        byte[] b = new byte[width];
        for (int i = 0; i < width; i++) b[i] = (byte) (v >>> (8 * i));
        f.seek(pos);
        f.write(b);
    }

    @Test
    void tensorsBeyond2GBAreAddressedWithLongOffsets() throws IOException {
        String json = "{\"emb\":{\"dtype\":\"BF16\",\"shape\":[" + ROWS + "," + COLS + "],\"data_offsets\":[0," + EMB_BYTES + "]},"
                + "\"huge\":{\"dtype\":\"U8\",\"shape\":[" + HUGE_BYTES + "],\"data_offsets\":[" + EMB_BYTES + "," + TAIL_BEGIN + "]},"
                + "\"tail\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[" + TAIL_BEGIN + "," + (TAIL_BEGIN + 16) + "]}}";
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        long data = 8 + h.length;
        Path p = tmp.resolve("sparse.safetensors");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            f.write(h);
            f.setLength(data + TAIL_BEGIN + 16);  // sparse: no zeros written
            // element index e of emb lies at data + 2e
            put(f, data + 2 * (1_048_575 * COLS + 1023), 0x3F00, 2);    // 0.5 at byte 2^31 − 2
            put(f, data + 2 * (1_048_576 * COLS), 0x4040, 2);           // 3.0 at byte 2^31 exactly
            put(f, data + 2 * ((ROWS - 2) * COLS + 7), 0x3FC0, 2);      // 1.5 in the second-to-last row
            put(f, data + 2 * (ROWS * COLS - 1), 0xC020, 2);            // −2.5, the very last element
            put(f, data + EMB_BYTES + HUGE_BYTES - 1, 7, 1);            // last byte of huge
            for (int i = 0; i < 4; i++) put(f, data + TAIL_BEGIN + 4L * i, Float.floatToIntBits(i + 1), 4);
        }

        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(EMB_BYTES, f.info("emb").byteSize());
            assertEquals(EMB_BYTES, f.segment("emb").byteSize());
            assertEquals(TAIL_BEGIN + 16, f.dataBytes());

            float[] rows = f.floatRows("emb", 1_048_575, 2);  // straddles byte 2^31
            assertEquals(2 * COLS, rows.length);
            for (int i = 0; i < rows.length; i++) {
                float want = i == 1023 ? 0.5f : i == 1024 ? 3.0f : 0f;
                assertEquals(want, rows[i], "row 1048575/6 element " + i);
            }
            float[] last = new float[(int) (2 * COLS)];
            f.floatRows("emb", ROWS - 2, 2, last, 0);
            for (int i = 0; i < last.length; i++) {
                float want = i == 7 ? 1.5f : i == last.length - 1 ? -2.5f : 0f;
                assertEquals(want, last[i], "last rows element " + i);
            }
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.floatRows("emb", ROWS - 1, 2));
            assertTrue(e.getMessage().contains("emb") && e.getMessage().contains("outside"), e.getMessage());

            assertEquals(7, f.segment("huge").get(ValueLayout.JAVA_BYTE, HUGE_BYTES - 1));
            e = assertThrows(SafetensorsException.class, () -> f.bytes("huge"));
            assertTrue(e.getMessage().contains("'huge'") && e.getMessage().contains("do not fit in one Java array"),
                    e.getMessage());

            assertArrayEquals(new float[] {1, 2, 3, 4}, f.floats("tail"), "a tensor beyond 4 GiB");
        }
    }
}
