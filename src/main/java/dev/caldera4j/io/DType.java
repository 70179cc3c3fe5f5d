package dev.caldera4j.io;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The element types of a safetensors file that caldera4j reads and writes, with their byte sizes.
 *
 * <p>The header spells them exactly as the enum constants ("BF16", "F32", ...); all are stored
 * little-endian. The spec's newer exotic types (F8_E4M3, F8_E5M2, U16/U32/U64, complex) are
 * deliberately absent: no Qwen2 checkpoint uses them, and a file that does gets a clear
 * {@link SafetensorsException} at open instead of silently wrong numbers.
 */
public enum DType {
    BF16(2), F16(2), F32(4), F64(8), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

    /** Bytes per element. */
    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** True for BF16, F16, F32: the types {@link SafetensorsFile#floats} widens to float32. */
    public boolean isFloat16or32() {
        return this == BF16 || this == F16 || this == F32;
    }

    /**
     * Parses a header dtype string (case-sensitive, as the spec writes it).
     *
     * @throws SafetensorsException naming the file, the tensor and the dtype when it is unknown
     */
    public static DType parse(String s, java.nio.file.Path file, String tensor) {
        for (DType d : values()) {
            if (d.name().equals(s)) return d;
        }
        String hint = Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
        boolean caseOnly = Arrays.stream(values()).anyMatch(d -> d.name().equals(s.toUpperCase(Locale.ROOT)));
        throw new SafetensorsException(file, tensor, "unknown dtype \"" + s + "\"",
                caseOnly ? "dtype names are upper case in safetensors headers (\"" + s.toUpperCase(Locale.ROOT) + "\")"
                        : "caldera4j reads " + hint + "; convert the checkpoint to one of these, e.g. BF16");
    }
}
