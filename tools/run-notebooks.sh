#!/usr/bin/env bash
# Executes notebooks headless on the caldera4j kernel and checks that their charts really draw.
#
# usage: tools/run-notebooks.sh [NOTEBOOK.ipynb ...]     (default: every notebooks/*.ipynb)
# env:   CALDERA4J_QUICK         passed to the kernel; default 1 (quick mode); 0 for the full runs
#        CALDERA4J_CELL_TIMEOUT  seconds one cell may run, default 1800
#        CALDERA4J_SCREENSHOTS=1 also writes target/notebooks/NAME.png (headless Chromium)
#        CALDERA4J_SKIP_BUILD=1  do not run `mvn package` even when sources are newer than lib/
#        CALDERA4J_CHROMIUM      the headless browser for the chart check, default chromium (any Chrome works)
# needs: what tools/setup.sh installs (run it first on a fresh machine).
#
# For each notebook: `jupyter nbconvert --to html --execute` (any cell error fails it) writes
# target/notebooks/NAME.html; headless Chromium then loads that page offline and every chart the
# kernel emitted must have been drawn by plotly.js (its div gets plotly's SVG). Exits non-zero
# naming each notebook that failed and why.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=tools/jdk25.sh
. tools/jdk25.sh
caldera4j_find_jdk25

browser=${CALDERA4J_CHROMIUM:-chromium}
for cmd in mvn jupyter-nbconvert "$browser"; do
    command -v "$cmd" >/dev/null || { echo "error: $cmd not found: run tools/setup.sh first" >&2; exit 1; }
done

export CALDERA4J_QUICK=${CALDERA4J_QUICK:-1}
cell_timeout=${CALDERA4J_CELL_TIMEOUT:-1800}
out=$root/target/notebooks
mkdir -p "$out"

if [ $# -gt 0 ]; then
    notebooks=("$@")
else
    shopt -s nullglob
    notebooks=(notebooks/*.ipynb)
    shopt -u nullglob
fi
if [ ${#notebooks[@]} -eq 0 ]; then
    echo "error: no notebooks given and none under notebooks/" >&2
    exit 1
fi

# Build when lib/ is missing or older than the sources (plain `mvn package`: a fresh machine gets its dependencies)
if [ "${CALDERA4J_SKIP_BUILD:-0}" != 1 ]; then
    if [ ! -f lib/caldera4j.jar ] || [ -n "$(find pom.xml src/main -newer lib/caldera4j.jar -print -quit)" ]; then
        echo "run-notebooks: building (mvn -q -B -DskipTests package)"
        mvn -q -B -DskipTests package
    fi
fi
[ -f lib/caldera4j.jar ] || { echo "error: lib/caldera4j.jar missing after the build" >&2; exit 1; }
tools/fetch-plotly.sh

# A private kernel spec for this checkout, first on Jupyter's search path: runs from other checkouts
# (worktrees, CI clones) then never use each other's lib/.
tools/install-kernel.sh "$root/target/jupyter/kernels" >/dev/null
export JUPYTER_PATH=$root/target/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}

count() { # occurrences of regex $1 in file $2 (0 when none: grep's exit 1 must not stop the script)
    { grep -o -- "$1" "$2" || true; } | wc -l
}

failures=()
for nb in "${notebooks[@]}"; do
    name=$(basename "$nb" .ipynb)
    html=$out/$name.html
    log=$out/$name.log
    if [ ! -f "$nb" ]; then
        failures+=("$nb: no such notebook")
        continue
    fi
    rm -f "$html"
    start=$(date +%s)
    if ! jupyter-nbconvert --to html --execute \
            --ExecutePreprocessor.kernel_name=caldera4j \
            --ExecutePreprocessor.timeout="$cell_timeout" \
            --ExecutePreprocessor.startup_timeout=300 \
            --output-dir "$out" --output "$name" "$nb" >"$log" 2>&1; then
        echo "---- $nb: nbconvert failed; from ${log#"$root"/}: ----" >&2
        if grep -q 'An error occurred while executing the following cell' "$log"; then
            sed -n '/An error occurred while executing the following cell/,$p' "$log" >&2
        else
            tail -n 40 "$log" >&2
        fi
        failures+=("$nb: a cell failed or the kernel died during execution (see ${log#"$root"/})")
        continue
    fi
    seconds=$(( $(date +%s) - start ))

    # Every chart the kernel emitted has a div like <div id="caldera4j_plot_..." class="caldera4j-plot">;
    # once plotly.js has drawn it, the div carries plotly's js-plotly-plot class and an SVG of class main-svg.
    charts=$(count '<div id="caldera4j_plot_[A-Za-z0-9_]*" class="caldera4j-plot">' "$html")
    if [ "$charts" -gt 0 ]; then
        profile=$(mktemp -d)
        chrome=("$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
                --disable-background-networking --disable-component-update --disable-sync
                --user-data-dir="$profile" --virtual-time-budget=15000)
        dom=$out/$name.dom.html
        if ! timeout 180 "${chrome[@]}" --dump-dom "file://$html" >"$dom" 2>"$out/$name.chromium.log"; then
            rm -rf "$profile"
            failures+=("$nb: headless Chromium could not load $html (see ${out#"$root"/}/$name.chromium.log)")
            continue
        fi
        if [ "${CALDERA4J_SCREENSHOTS:-0}" = 1 ]; then
            timeout 180 "${chrome[@]}" --hide-scrollbars --window-size=1280,4000 \
                --screenshot="$out/$name.png" "file://$html" >/dev/null 2>&1 || echo "warning: no screenshot for $nb" >&2
        fi
        rm -rf "$profile"
        drawn=$(count 'class="caldera4j-plot js-plotly-plot"' "$dom")
        svgs=$(count 'class="main-svg"' "$dom")
        if [ "$drawn" -lt "$charts" ] || [ "$svgs" -lt "$charts" ]; then
            failures+=("$nb: $charts chart(s) emitted but only $drawn drawn by plotly.js ($svgs main-svg) in headless Chromium (DOM: ${dom#"$root"/})")
            continue
        fi
    fi
    echo "ok   $nb (${seconds}s, $charts chart(s) drawn) -> ${html#"$root"/}"
done

if [ ${#failures[@]} -gt 0 ]; then
    echo "run-notebooks: ${#failures[@]} of ${#notebooks[@]} notebook(s) FAILED:" >&2
    printf '  %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "run-notebooks: all ${#notebooks[@]} notebook(s) passed (CALDERA4J_QUICK=$CALDERA4J_QUICK)"
