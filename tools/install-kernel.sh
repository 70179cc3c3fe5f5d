#!/usr/bin/env bash
# Writes the Jupyter kernel spec "Java (caldera4j)" (kernel name: caldera4j). Idempotent.
#
# usage: tools/install-kernel.sh [KERNELS_DIR]
#   KERNELS_DIR  default: ${XDG_DATA_HOME:-~/.local/share}/jupyter/kernels (Jupyter's user-level folder)
# env:   CALDERA4J_KERNEL_XMX  kernel heap, default 6g
#        JAVA_HOME_25 / JAVA_HOME  the JDK 25 to run the kernel (see tools/jdk25.sh)
#
# The kernel runs cells in its own JVM, so the project's JVM flags go here: heap, native access
# (OpenBLAS, tokenizers), the project-local JavaCPP cache, headless AWT. Classes come from lib/,
# which `mvn package` fills with the project jar and its runtime jars.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/jdk25.sh
. "$root/tools/jdk25.sh"
caldera4j_find_jdk25

kernels_dir=${1:-${XDG_DATA_HOME:-$HOME/.local/share}/jupyter/kernels}
dir=$kernels_dir/caldera4j
xmx=${CALDERA4J_KERNEL_XMX:-6g}

json_string() { # JSON string literal of $1
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

argv=(
    "$JAVA_HOME/bin/java"
    "-Xmx$xmx"
    "--enable-native-access=ALL-UNNAMED"
    "-Dorg.bytedeco.javacpp.cachedir=$root/target/javacpp-cache"
    "-Djava.awt.headless=true"
    "-Dcaldera4j.lib=$root/lib"
    "-Dcaldera4j.home=$root"
    "-Dcaldera4j.shared=$(dirname "$root")/shared"
    "-cp" "$root/lib/*"
    "dev.caldera4j.notebook.Caldera4jKernel"
    "{connection_file}"
)
spec='{
  "display_name": "Java (caldera4j)",
  "language": "java",
  "interrupt_mode": "message",
  "argv": ['
sep=''
for a in "${argv[@]}"; do
    spec+="$sep
    $(json_string "$a")"
    sep=','
done
spec+='
  ],
  "metadata": {"caldera4j_project": '"$(json_string "$root")"'}
}'

mkdir -p "$dir"
if [ -f "$dir/kernel.json" ] && [ "$(cat "$dir/kernel.json")" = "$spec" ]; then
    echo "kernel spec caldera4j unchanged in $dir"
    exit 0
fi
printf '%s\n' "$spec" > "$dir/kernel.json.tmp"
mv "$dir/kernel.json.tmp" "$dir/kernel.json"
echo "kernel spec caldera4j written to $dir (java: $JAVA_HOME, project: $root)"
if [ ! -f "$root/lib/caldera4j.jar" ]; then
    echo "note: $root/lib/caldera4j.jar is missing: run 'mvn -DskipTests package' before using the kernel" >&2
fi
