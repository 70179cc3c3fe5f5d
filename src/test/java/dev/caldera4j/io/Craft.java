package dev.caldera4j.io;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Test helpers: hand-made safetensors files and an independent (naive) view of a file's bytes. */
final class Craft {
    private Craft() {}

    /** Writes u64 len(header) + header + dataBytes zero bytes, bypassing SafetensorsWriter. */
    static Path file(Path p, String headerJson, int dataBytes) throws IOException {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        return raw(p, h.length, h, dataBytes);
    }

    /** Writes the given u64 header length (which may lie), the header bytes and dataBytes zero bytes. */
    static Path raw(Path p, long declaredLength, byte[] header, int dataBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredLength).put(header);
        Files.write(p, b.array());
        return p;
    }

    /** The header of a file, parsed with Gson directly from its bytes (not through SafetensorsFile). */
    static JsonObject header(byte[] file) {
        long n = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        return JsonParser.parseString(new String(file, 8, (int) n, StandardCharsets.UTF_8)).getAsJsonObject();
    }

    /** Offset of the data buffer in a file: 8 + header length. */
    static int dataStart(byte[] file) {
        return 8 + (int) ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    }

    /** The raw bytes of a tensor, located by reading the header with Gson: the twin of SafetensorsFile.segment. */
    static byte[] tensorBytes(byte[] file, String name) {
        var off = header(file).getAsJsonObject(name).getAsJsonArray("data_offsets");
        int begin = dataStart(file) + off.get(0).getAsInt(), end = dataStart(file) + off.get(1).getAsInt();
        byte[] out = new byte[end - begin];
        System.arraycopy(file, begin, out, 0, out.length);
        return out;
    }

    /** Little-endian value of bytes [i, i + width) assembled byte by byte. */
    static long le(byte[] b, int i, int width) {
        long v = 0;
        for (int k = width - 1; k >= 0; k--) v = (v << 8) | (b[i + k] & 0xFF);
        return v;
    }
}
