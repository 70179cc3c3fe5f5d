/**
 * Reading and writing safetensors files and Hugging Face checkpoint directories.
 *
 * <ul>
 *   <li>{@link dev.caldera4j.io.SafetensorsFile}: one file, memory-mapped through java.lang.foreign,
 *       validated at open, lazy (pages are touched only when a tensor is read), long offsets
 *       (tensors above 2 GB), typed readers that widen BF16/F16/F32 to float32.</li>
 *   <li>{@link dev.caldera4j.io.Checkpoint}: a model directory, {@code model.safetensors} or shards
 *       + {@code model.safetensors.index.json}, with the same read API routed to the right shard.</li>
 *   <li>{@link dev.caldera4j.io.SafetensorsWriter}: deterministic (sorted names), atomic (temp file,
 *       fsync, rename) writer; F32 → BF16/F16 conversion rounds to nearest even.</li>
 *   <li>{@link dev.caldera4j.io.Half}: the bf16/f16 bit conversions.</li>
 * </ul>
 *
 * All failures are {@link dev.caldera4j.io.SafetensorsException}s naming the file, the tensor, the
 * problem and a fix (the writer's argument checks are IllegalArgumentExceptions naming the tensor).
 */
package dev.caldera4j.io;
