#!/usr/bin/env bash
# Regenerates the PTX resources from src/main/cuda/*.cu with nvcc (13.0 here):
#   <name>_sm90a.ptx PTX for compute_90a (H100/H200 only: wgmma is arch-specific), JIT-compiled by
#                    the driver at module load; Gpu.java loads it on compute capability 9.0 only;
#   <name>_sm80.ptx  PTX for compute_80, which the driver JIT-compiles everywhere else (8.x such as
#                    an RTX 3090 = sm_86, and newer chips); it has no wgmma code.
# The first line of each PTX names the sha256 of its .cu; PtxFreshnessTest fails when the .cu
# changed since. The build itself never needs nvcc: the PTX is committed and ships in the jar.
# Then prints ptxas's resource report (registers, shared memory, stack, spills) for sm_90 and sm_86.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/main/resources/dev/caldera4j/gpu
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for cu in src/main/cuda/*.cu; do
  base=$(basename "$cu" .cu)
  sha=$(sha256sum "$cu" | cut -d' ' -f1)
  for t in 90a 80; do
    nvcc -ptx -arch=compute_$t -o "$tmp/$base.ptx" "$cu"
    { echo "// caldera4j-source: src/main/cuda/$base.cu sha256 $sha"; cat "$tmp/$base.ptx"; } > "$out/${base}_sm$t.ptx"
  done
  for pair in 90a:sm_90a 80:sm_86; do
    echo "== ptxas -v $base (${pair#*:})"
    ptxas -arch="${pair#*:}" -v "$out/${base}_sm${pair%%:*}.ptx" -o "$tmp/$base.cubin" 2>&1 \
      | grep -E "Compiling entry|registers|spill" | paste - - - \
      | sed -E "s/ptxas info *: //g; s/Compiling entry function '([a-z0-9_]+)' for '[a-z0-9_]+'/\1:/; s/[[:space:]]+/ /g"
  done
done
