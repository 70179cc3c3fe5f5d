#!/usr/bin/env bash
# Stages what a GPU-host run needs into .device-gpu/ (git-ignored): a JDK 25 runtime, the slim
# classpath of the GPU code (project jar, JCuda + its driver natives, gson; the CPU reference of the
# parity checks runs its products in plain Java, -Dcaldera4j.blas=java, so no OpenBLAS natives) and
# the compressed checkpoints to check there (a run carries at most 64 MiB). Then run with the
# device tool, carry [".device-gpu"], command: tools/e2e-gpu.sh (see its header).
#   tools/stage-gpu.sh [checkpoint-dir …]
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/jdk25.sh
caldera4j_find_jdk25
d=.device-gpu
mkdir -p "$d/lib" "$d/ckpt"
[ -f "$d/jre.tar.xz" ] || ../shared/device/bundle-jre.sh "$d"
mvn -q -B -o -DskipTests package
rm -f "$d"/lib/*.jar
m2=~/.m2/repository
cp lib/caldera4j.jar lib/gson-*.jar \
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
rm -rf "$d"/ckpt/*
for c in "$@"; do cp -r "$c" "$d/ckpt/$(basename "$c")"; done
git rev-parse --short HEAD > "$d/GIT_COMMIT"
git diff --quiet HEAD -- src pom.xml || sed -i 's/$/-dirty/' "$d/GIT_COMMIT"
du -sh "$d"
