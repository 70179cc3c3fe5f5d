package dev.caldera4j.calib;

import dev.caldera4j.quant.CompressedLinear;
import dev.caldera4j.quant.ProxyError;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One compression method as the layer-by-layer driver sees it: a dense linear layer and the
 * Hessian of its inputs in, a {@link CompressedLinear} out. RTN, GPTQ and CALDERA are instances
 * (see {@link CompressSpec#compressor()}); the driver knows nothing else about them.
 */
@FunctionalInterface
public interface LayerCompressor {

    /**
     * @param name  the layer's tensor prefix, e.g. {@code model.layers.3.mlp.down_proj} (labels logs and errors)
     * @param W     (dOut, dIn) row-major float32 weight; not modified
     * @param H     (dIn, dIn) row-major float64 XᵀX/n of the layer's calibration inputs, or null when
     *              the run has no calibration data (data-free methods only)
     * @param bias  (dOut) or null; goes into the compressed layer unchanged
     */
    Result compress(String name, float[] W, int dOut, int dIn, double[] H, float[] bias);

    /**
     * What compressing one layer gave.
     *
     * @param layer      the compressed layer
     * @param proxyError tr(ΔHΔᵀ)/tr(WHWᵀ) with the undamped H; NaN when there was no H
     * @param actOrder   whether columns were quantised in act-order (recorded per layer in caldera4j.json)
     * @param info       method-specific numbers for caldera4j.json (e.g. GPTQ's damping), sorted by key;
     *                   values must be deterministic (no timings)
     * @param log        events worth keeping (damping escalations, dead columns), deterministic
     */
    record Result(CompressedLinear layer, double proxyError, boolean actOrder, Map<String, Object> info, List<String> log) {
        public Result {
            info = new TreeMap<>(info);
            log = List.copyOf(log);
        }

        /** A result whose proxy error is computed here from the layer's dense reconstruction (NaN without H). */
        public static Result of(CompressedLinear layer, float[] W, double[] H, boolean actOrder,
                                Map<String, Object> info, List<String> log) {
            double err = H == null ? Double.NaN : ProxyError.relative(W, layer.denseWeight(), layer.dOut(), layer.dIn(), H);
            return new Result(layer, err, actOrder, info, log);
        }
    }
}
