#!/usr/bin/env bash
# The end-to-end GPU run (issue 7) on the GPU host, after tools/stage-gpu.sh staged .device-gpu/:
#   device tool, carry [".device-gpu"], command: tools/e2e-gpu.sh
# Engine parity against the CPU reference (tiny dense + every staged checkpoint), then tokens/s and
# device memory for synthetic standin-small and Qwen2-72B shapes and the fp16 72B extrapolation.
# Each part runs in its own JVM (one failing part does not lose the others); the rows are merged
# into $OUT/e2e-h200.json, the log is $OUT/e2e-h200.log.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/e2e}
mkdir -p "$OUT"
[ -x /tmp/jre/bin/java ] || tar xJf .device-gpu/jre.tar.xz -C /tmp
tools/gpu-restore.sh
export PATH=/tmp/jre/bin:$PATH
commit=$(cat .device-gpu/GIT_COMMIT 2>/dev/null || echo unknown)
golden() { case "$1" in *standin*) echo src/test/resources/golden/standin-small.safetensors;; *) echo src/test/resources/golden/tiny.safetensors;; esac; }
parity="data/models/tiny=$(golden tiny)"
for c in .device-gpu/ckpt/*/; do [ -d "$c" ] && parity="$parity,${c%/}=$(golden "$c")"; done
run() {
  local part=$1
  java -Xmx24g --enable-native-access=ALL-UNNAMED -Dcaldera4j.blas=java -cp '.device-gpu/lib/*' \
    dev.caldera4j.gpu.EngineBench --out "$OUT/e2e-$part.json" --git-commit "$commit" --parts "$part" --parity "$parity"
  echo "part $part: exit $?"
}
{
  for part in ${PARTS:-parity standin 72b fp16}; do run "$part"; done
} 2>&1 | tee "$OUT/e2e-h200.log"
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
env, rows = None, []
for part in ["parity", "standin", "72b", "fp16"]:
    p = os.path.join(out, f"e2e-{part}.json")
    if not os.path.exists(p): continue
    e = json.load(open(p))
    rows += e["rows"]
    env = env or e
if env:
    env["command"] = "tools/stage-gpu.sh <checkpoints> here, then on the GPU host: tools/e2e-gpu.sh (parts run as: " + env["command"].split(" --parts")[0] + " --parts <part> …)"
    env["rows"] = rows
    json.dump(env, open(os.path.join(out, "e2e-h200.json"), "w"), indent=2, ensure_ascii=False)
    print(f"wrote {len(rows)} rows to {out}/e2e-h200.json")
PY
