#!/usr/bin/env bash
# Stages what a GPU-host run needs into .device-gpu/ (git-ignored): a JDK 25 runtime, the slim
# classpath of the GPU code (project jar, JCuda + its driver natives, gson; the CPU reference of the
# parity checks runs its products in plain Java, -Dcaldera4j.blas=java, so no OpenBLAS natives) and
# the compressed checkpoints to check or evaluate there (a run carries at most 64 MiB). Then run with
# the device tool, carry [".device-gpu"], command: tools/e2e-gpu.sh or tools/eval-gpu.sh (see their
# headers).
#   [EVAL_TOKENS=file] tools/stage-gpu.sh [checkpoint-dir …]
# Checkpoint files are stored once by content (.device-gpu/blobs/<sha256>, listed in
# .device-gpu/ckpt.manifest; tools/gpu-restore.sh links them back into .device-gpu/ckpt/ on the
# host): checkpoints of one model share their embedding shard and tokenizer, ~9 MiB of ~17. EVAL_TOKENS
# (made by `caldera4j tokenize-eval`) is copied to .device-gpu/eval.tok for tools/eval-gpu.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/jdk25.sh
caldera4j_find_jdk25
d=.device-gpu
mkdir -p "$d/lib" "$d/ckpt"
# the JDK 25 runtime: jlink without its own compression, then xz (13.6 MiB instead of the 20.7 MiB of
# ../shared/device/bundle-jre.sh, whose zip-compressed modules xz cannot shrink further)
if [ "$(cat "$d/jre.kind" 2>/dev/null)" != "jlink-zip0-xz9" ]; then
  tmp=$(mktemp -d)
  "$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,jdk.unsupported,jdk.incubator.vector,jdk.zipfs \
    --strip-debug --no-man-pages --no-header-files --compress=zip-0 --output "$tmp/jre" 2>/dev/null
  tar -C "$tmp" -cf - jre | xz -9e -T1 > "$d/jre.tar.xz.tmp" && mv "$d/jre.tar.xz.tmp" "$d/jre.tar.xz"
  rm -rf "$tmp"
  echo jlink-zip0-xz9 > "$d/jre.kind"
fi
mvn -q -B -o -DskipTests package
rm -f "$d"/lib/*.jar
m2=~/.m2/repository
# picocli + progressbar/jline: the CLI's eval command (tools/eval-gpu.sh) runs there
cp lib/caldera4j.jar lib/gson-*.jar lib/picocli-*.jar lib/progressbar-*.jar lib/jline-terminal-*.jar lib/jline-native-*.jar \
   "$m2"/org/jcuda/jcuda/12.6.0/jcuda-12.6.0.jar "$d/lib/"
# only the driver-API natives of JCuda (the full natives jar carries runtime/NVRTC libraries the host cannot load)
if [ ! -f "$d/jcuda-driver-natives-12.6.0-linux-x86_64.jar" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && unzip -q "$m2"/org/jcuda/jcuda-natives/12.6.0/jcuda-natives-12.6.0-linux-x86_64.jar 'lib/libJCudaDriver*' \
     && zip -q -r jcuda-driver-natives-12.6.0-linux-x86_64.jar lib)
  cp "$tmp/jcuda-driver-natives-12.6.0-linux-x86_64.jar" "$d/"
  rm -rf "$tmp"
fi
cp "$d/jcuda-driver-natives-12.6.0-linux-x86_64.jar" "$d/lib/"
rm -rf "$d"/ckpt "$d"/blobs "$d"/ckpt.manifest "$d"/eval.tok
mkdir -p "$d/blobs"
: > "$d/ckpt.manifest"
for c in "$@"; do
  [ -f "$c/caldera4j.json" ] || [ -f "$c/config.json" ] || { echo "error: $c is not a model directory" >&2; exit 1; }
  name=$(basename "$c")
  (cd "$c" && find . -type f ! -name '*.log' | sort) | while read -r f; do
    sha=$(sha256sum "$c/$f" | cut -d' ' -f1)
    [ -f "$d/blobs/$sha" ] || cp "$c/$f" "$d/blobs/$sha"
    echo "$sha $name/${f#./}" >> "$d/ckpt.manifest"
  done
done
rm -f "$d/eval.plan"
if [ -n "${EVAL_TOKENS:-}" ]; then cp "$EVAL_TOKENS" "$d/eval.tok"; fi
if [ -n "${EVAL_PLAN:-}" ]; then cp "$EVAL_PLAN" "$d/eval.plan"; fi
git rev-parse --short HEAD > "$d/GIT_COMMIT"
git diff --quiet HEAD -- src pom.xml || sed -i 's/$/-dirty/' "$d/GIT_COMMIT"
du -sh "$d"
tree=$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1)
carry=$(du -sb "$d" | cut -f1)
echo "carry: .device-gpu $((carry / 1048576)) MiB + tracked tree $((tree / 1048576)) MiB = $(((carry + tree) / 1048576)) MiB (limit 64)"
[ $((carry + tree)) -lt $((64 * 1048576)) ] || { echo "error: over the device tool's 64 MiB carry: stage fewer checkpoints" >&2; exit 1; }
