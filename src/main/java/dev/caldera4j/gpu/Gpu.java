package dev.caldera4j.gpu;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuGetErrorName;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD16Async;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * A small runtime over JCuda's driver API: one device, its primary context, one stream, the
 * kernels of qlr.cu loaded from the PTX shipped as jar resources, caller-owned device buffers,
 * and launches. Every CUresult goes through {@link #check}, the one place that turns a failure
 * into a {@link GpuException} naming the operation (for launches: the kernel and its shapes).
 * Only the driver API is used: its native library needs nothing but libcuda.so.1.
 */
public final class Gpu implements AutoCloseable {

    /** Whether a CUDA device can be used here, and if not, why. */
    public record Availability(boolean available, String reason) {}

    /** Device memory owned by the caller; free it with {@link #free}. */
    public record Buffer(CUdeviceptr ptr, long bytes, String what) {}

    /** Thrown for any failed CUDA call; the message names the operation. */
    public static final class GpuException extends RuntimeException {
        public GpuException(String message) {
            super(message);
        }
    }

    /** Threads per block of the kernels in qlr.cu (qlr_decode5 runs 512: see launchWith). */
    public static final int THREADS = 256;

    /** PTX for compute capability 9.0 exactly (wgmma needs the arch-specific sm_90a target), and for everything else. */
    public static final String PTX_SM90A = "qlr_sm90a.ptx", PTX_SM80 = "qlr_sm80.ptx";

    private static Availability availability;

    public final String deviceName;
    public final int ccMajor, ccMinor, smCount, driverVersion, maxSmemOptin;
    public final long l2Bytes, totalBytes;
    public final String ptxResource;

    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUmodule module = new CUmodule();
    /** engine.cu's kernels (names start with "eng_"), from the PTX of the same target as qlr's. */
    private final CUmodule engineModule = new CUmodule();
    public final String enginePtxResource;
    private final CUstream stream = new CUstream();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final Map<String, Integer> smemAllowed = new HashMap<>();
    private String lastLaunch = "(none)";

    /**
     * Tries the driver once. Without a GPU (or without libcuda.so.1) JCuda's native library fails
     * to link and cuInit throws UnsatisfiedLinkError, an Error: that is caught here on purpose.
     */
    public static synchronized Availability available() {
        if (availability != null) return availability;
        try {
            JCudaDriver.setExceptionsEnabled(false);
            int r = cuInit(0);
            if (r != CUresult.CUDA_SUCCESS) {
                availability = new Availability(false, "cuInit failed with " + CUresult.stringFor(r));
            } else {
                int[] n = new int[1];
                r = cuDeviceGetCount(n);
                availability = r == CUresult.CUDA_SUCCESS && n[0] > 0
                        ? new Availability(true, n[0] + " CUDA device(s)")
                        : new Availability(false, "no CUDA device (cuDeviceGetCount: " + CUresult.stringFor(r) + ", count " + n[0] + ")");
            }
        } catch (Throwable e) {
            // JCuda's message carries two nested stack traces; keep its first line and the loader's cause
            String msg = String.valueOf(e.getMessage());
            String first = msg.lines().findFirst().orElse(""), cause = msg.lines()
                    .filter(l -> l.contains("cannot open shared object file")).findFirst().map(String::trim).orElse("");
            availability = new Availability(false, "CUDA driver not usable here (" + e.getClass().getSimpleName() + ": " + first
                    + (cause.isEmpty() ? "" : "; " + cause) + "); the GPU path needs an NVIDIA driver (libcuda.so.1, R580+ for this PTX)");
        }
        return availability;
    }

    /** Opens device 0: primary context, a stream, and the kernel module for its compute capability. */
    /**
     * Makes this GPU's context current on the calling thread. Driver-API contexts are current per
     * thread: a call from a thread that never did this (a worker of the evaluator's pool) runs
     * without a context — JCuda crashed the JVM (SIGSEGV in libcuda) rather than return an error.
     */
    public void makeCurrent() {
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    public static Gpu open() {
        Availability a = available();
        if (!a.available()) throw new GpuException("no GPU: " + a.reason());
        return new Gpu(0);
    }

    private Gpu(int ordinal) {
        check(cuDeviceGet(device, ordinal), "cuDeviceGet(" + ordinal + ")");
        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
        byte[] name = new byte[256];
        check(cuDeviceGetName(name, name.length, device), "cuDeviceGetName");
        int len = 0;
        while (len < name.length && name[len] != 0) len++;
        deviceName = new String(name, 0, len, java.nio.charset.StandardCharsets.UTF_8);
        ccMajor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        ccMinor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        smCount = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        l2Bytes = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE);
        maxSmemOptin = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        long[] total = new long[1];
        check(cuDeviceTotalMem(total, device), "cuDeviceTotalMem");
        totalBytes = total[0];
        int[] v = new int[1];
        check(cuDriverGetVersion(v), "cuDriverGetVersion");
        driverVersion = v[0];
        if (ccMajor < 8)
            throw new GpuException(deviceName + " has compute capability " + ccMajor + "." + ccMinor
                    + "; the kernels need 8.0 or newer (mma.sync m16n8k16, cp.async)");
        // sm_90a PTX (wgmma) on compute capability 9.0 only: arch-specific code runs on no other chip. The compute_80
        // PTX is JIT-compiled everywhere else (8.x such as an RTX 3090 = sm_86, and newer chips), without wgmma.
        ptxResource = ccMajor == 9 && ccMinor == 0 ? PTX_SM90A : PTX_SM80;
        byte[] ptx = readPtx(ptxResource);
        check(cuModuleLoadData(module, ptx), "loading " + ptxResource + " (PTX from nvcc 13.0 needs an R580+ driver; this one is "
                + driverVersion + ")");
        enginePtxResource = ptxResource.replace("qlr_", "engine_");
        check(cuModuleLoadData(engineModule, readPtx(enginePtxResource)), "loading " + enginePtxResource);
        check(cuStreamCreate(stream, 0), "cuStreamCreate");
    }

    /** A PTX resource as a NUL-terminated byte array (the driver reads it as a C string). */
    static byte[] readPtx(String resource) {
        try (InputStream in = Gpu.class.getResourceAsStream(resource)) {
            if (in == null)
                throw new GpuException("PTX resource dev/caldera4j/gpu/" + resource + " is missing from the classpath;"
                        + " rebuild the jar (tools/build-ptx.sh regenerates the PTX)");
            byte[] b = in.readAllBytes();
            byte[] z = java.util.Arrays.copyOf(b, b.length + 1);
            return z;
        } catch (IOException e) {
            throw new GpuException("reading PTX resource " + resource + ": " + e.getMessage());
        }
    }

    private int attribute(int attr) {
        int[] v = new int[1];
        check(cuDeviceGetAttribute(v, attr, device), "cuDeviceGetAttribute(" + attr + ")");
        return v[0];
    }

    /** Device memory in use right now, total − free as cuMemGetInfo reports it (what nvidia-smi counts, context included). */
    public long usedBytes() {
        long[] free = new long[1], total = new long[1];
        check(cuMemGetInfo(free, total), "cuMemGetInfo");
        return total[0] - free[0];
    }

    /** The one place where a CUresult becomes an exception. */
    public static void check(int result, String what) {
        if (result == CUresult.CUDA_SUCCESS) return;
        String[] name = new String[1];
        String n = cuGetErrorName(result, name) == CUresult.CUDA_SUCCESS && name[0] != null ? name[0] : CUresult.stringFor(result);
        throw new GpuException(what + " failed: " + n + " (" + result + ")");
    }

    /** The kernel's function handle; the first call loads it and raises its shared-memory limit if needed. */
    public CUfunction function(String kernel, int dynamicSmem) {
        CUfunction f = functions.get(kernel);
        if (f == null) {
            f = new CUfunction();
            boolean engine = kernel.startsWith("eng_");
            check(cuModuleGetFunction(f, engine ? engineModule : module, kernel), "looking up kernel " + kernel + " in "
                    + (engine ? enginePtxResource : ptxResource));
            functions.put(kernel, f);
        }
        if (dynamicSmem > smemAllowed.getOrDefault(kernel, 48 * 1024)) {
            check(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, dynamicSmem),
                    "allowing " + dynamicSmem + " bytes of shared memory for " + kernel + " (device allows " + maxSmemOptin + ")");
            smemAllowed.put(kernel, dynamicSmem);
        }
        return f;
    }

    /** Resident blocks of {@code threads} threads per multiprocessor for a kernel. */
    public int blocksPerSm(String kernel, int dynamicSmem, int threads) {
        int[] n = new int[1];
        check(cuOccupancyMaxActiveBlocksPerMultiprocessor(n, function(kernel, dynamicSmem), threads, dynamicSmem),
                "occupancy of " + kernel);
        return n[0];
    }

    /**
     * Launches {@code kernel} with 256 threads per block on this object's stream. Arguments:
     * Buffer (device pointer; null for an absent one), Integer, Long, Float — in kernel order.
     * {@code shapes} names the problem for error messages.
     */
    public void launch(String kernel, String shapes, int gx, int gy, int gz, int dynamicSmem, Object... args) {
        launchWith(kernel, shapes, gx, gy, gz, THREADS, dynamicSmem, args);
    }

    /** As {@link #launch(String, String, int, int, int, int, Object...)} with {@code threads} threads per block. */
    public void launchWith(String kernel, String shapes, int gx, int gy, int gz, int threads, int dynamicSmem, Object... args) {
        CUfunction f = function(kernel, dynamicSmem);
        Pointer[] ps = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            ps[i] = switch (args[i]) {
                case null -> Pointer.to(new CUdeviceptr());
                case Buffer b -> Pointer.to(b.ptr());
                case Integer v -> Pointer.to(new int[] {v});
                case Long v -> Pointer.to(new long[] {v});
                case Float v -> Pointer.to(new float[] {v});
                default -> throw new IllegalArgumentException("kernel argument " + i + " of " + kernel + " has unsupported type "
                        + args[i].getClass().getName());
            };
        }
        lastLaunch = kernel + " [" + shapes + ", grid " + gx + "×" + gy + "×" + gz + "]";
        check(cuLaunchKernel(f, gx, gy, gz, threads, 1, 1, dynamicSmem, stream, Pointer.to(ps), null), "launch of " + lastLaunch);
    }

    /** Waits for the stream; a fault inside a kernel surfaces here, named by the last launch. */
    public void sync() {
        check(cuStreamSynchronize(stream), "kernels up to " + lastLaunch);
    }

    public Buffer alloc(long bytes, String what) {
        CUdeviceptr p = new CUdeviceptr();
        check(cuMemAlloc(p, Math.max(bytes, 16)), "allocating " + bytes + " bytes for " + what);
        return new Buffer(p, bytes, what);
    }

    public void free(Buffer b) {
        if (b != null) check(cuMemFree(b.ptr()), "freeing " + b.what());
    }

    public Buffer upload(short[] a, String what) {
        Buffer b = alloc(2L * a.length, what);
        check(cuMemcpyHtoD(b.ptr(), Pointer.to(a), 2L * a.length), "uploading " + what);
        return b;
    }

    public Buffer upload(int[] a, String what) {
        Buffer b = alloc(4L * a.length, what);
        check(cuMemcpyHtoD(b.ptr(), Pointer.to(a), 4L * a.length), "uploading " + what);
        return b;
    }

    public void write(Buffer b, short[] a) {
        sync();
        check(cuMemcpyHtoD(b.ptr(), Pointer.to(a), 2L * a.length), "writing " + b.what());
    }

    public void write(Buffer b, int[] a) {
        sync();
        check(cuMemcpyHtoD(b.ptr(), Pointer.to(a), 4L * a.length), "writing " + b.what());
    }

    public void write(Buffer b, float[] a) {
        sync();
        check(cuMemcpyHtoD(b.ptr(), Pointer.to(a), 4L * a.length), "writing " + b.what());
    }

    /** Copies host values into a buffer on the stream (capture-safe: no synchronisation). */
    public void writeAsync(Buffer b, short[] a, int n) {
        check(cuMemcpyHtoDAsync(b.ptr(), Pointer.to(a), 2L * n, stream), "writing " + b.what());
    }

    public int[] readInts(Buffer b, int n) {
        sync();
        int[] a = new int[n];
        check(cuMemcpyDtoH(Pointer.to(a), b.ptr(), 4L * n), "reading " + b.what());
        return a;
    }

    public float[] readFloats(Buffer b, long offsetFloats, int n) {
        sync();
        float[] a = new float[n];
        check(cuMemcpyDtoH(Pointer.to(a), b.ptr().withByteOffset(4L * offsetFloats), 4L * n), "reading " + b.what());
        return a;
    }

    /** A view of bytes [offset, offset + bytes) of b (no allocation; freeing it is the parent's job). */
    public static Buffer slice(Buffer b, long offset, long bytes, String what) {
        if (offset < 0 || offset + bytes > b.bytes())
            throw new IllegalArgumentException("slice [" + offset + ", " + (offset + bytes) + ") of " + b.what() + " (" + b.bytes()
                    + " bytes) is out of range");
        return new Buffer(b.ptr().withByteOffset(offset), bytes, what);
    }

    /** Starts recording the stream's work into a CUDA graph (nothing runs until the graph is launched). */
    public void beginCapture() {
        check(cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
    }

    /** Ends the capture and instantiates the graph. */
    public CUgraphExec endCapture() {
        CUgraph g = new CUgraph();
        check(cuStreamEndCapture(stream, g), "cuStreamEndCapture (a launch during capture failed, or something synchronised)");
        CUgraphExec e = new CUgraphExec();
        check(cuGraphInstantiate(e, g, 0), "cuGraphInstantiate");
        check(cuGraphDestroy(g), "cuGraphDestroy");
        return e;
    }

    public void launchGraph(CUgraphExec e) {
        check(cuGraphLaunch(e, stream), "cuGraphLaunch");
    }

    public static void destroy(CUgraphExec e) {
        check(cuGraphExecDestroy(e), "cuGraphExecDestroy");
    }

    public short[] readShorts(Buffer b, int n) {
        sync();
        short[] a = new short[n];
        check(cuMemcpyDtoH(Pointer.to(a), b.ptr(), 2L * n), "reading " + b.what());
        return a;
    }

    /** Copies bytes on the stream (device to device). */
    public void copy(Buffer dst, Buffer src, long bytes) {
        check(cuMemcpyDtoDAsync(dst.ptr(), src.ptr(), bytes, stream), "copying " + bytes + " bytes " + src.what() + " → " + dst.what());
    }

    /** A device copy of a buffer. */
    public Buffer duplicate(Buffer src, String what) {
        if (src == null) return null;
        Buffer b = alloc(src.bytes(), what);
        copy(b, src, src.bytes());
        return b;
    }

    public void zero(Buffer b) {
        check(cuMemsetD8Async(b.ptr(), (byte) 0, b.bytes(), stream), "zeroing " + b.what());
    }

    /** Fills n fp16 values with a bit pattern (a NaN marks outputs no kernel wrote). */
    public void fill16(Buffer b, short bits, long n) {
        check(cuMemsetD16Async(b.ptr(), bits, n, stream), "filling " + b.what());
    }

    public CUevent event() {
        CUevent e = new CUevent();
        check(cuEventCreate(e, CUevent_flags.CU_EVENT_DEFAULT), "cuEventCreate");
        return e;
    }

    public void record(CUevent e) {
        check(cuEventRecord(e, stream), "cuEventRecord");
    }

    public static float elapsedMs(CUevent a, CUevent b) {
        float[] ms = new float[1];
        check(cuEventElapsedTime(ms, a, b), "cuEventElapsedTime");
        return ms[0];
    }

    public static void destroy(CUevent e) {
        check(cuEventDestroy(e), "cuEventDestroy");
    }

    @Override
    public void close() {
        cuStreamDestroy(stream);
        cuModuleUnload(module);
        cuModuleUnload(engineModule);
        cuDevicePrimaryCtxRelease(device);
    }
}
