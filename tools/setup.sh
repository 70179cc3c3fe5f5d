#!/usr/bin/env bash
# Makes a Debian machine ready to build caldera4j and run its notebooks headless:
#   JDK 25 (checked, not installed: Debian has none), Maven, jupyter nbconvert + nbclient +
#   jupyter-client, Chromium (the chart check of tools/run-notebooks.sh), npm (only to fetch plotly.js once),
#   and plotly.js 2.35.3 in lib/js/.
# Safe to repeat; when everything is there it installs nothing and takes about a second.
# apt-get runs (after one apt-get update) only when a package is missing; that needs root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/jdk25.sh
. "$root/tools/jdk25.sh"
caldera4j_find_jdk25

need=()
command -v mvn >/dev/null || need+=(maven)
command -v jupyter >/dev/null || need+=(jupyter-core)
command -v jupyter-nbconvert >/dev/null || need+=(jupyter-nbconvert)
command -v jupyter-kernelspec >/dev/null || need+=(jupyter-client)
# nbconvert --execute needs nbclient and jupyter_client in the Python that runs jupyter-nbconvert
nbconvert_python=/usr/bin/python3
if command -v jupyter-nbconvert >/dev/null; then
    shebang=$(head -1 "$(command -v jupyter-nbconvert)")
    case $shebang in
        '#!'*python*) nbconvert_python=${shebang#\#!}; nbconvert_python=${nbconvert_python%% *} ;;
    esac
fi
if ! "$nbconvert_python" -c 'import nbclient, jupyter_client' 2>/dev/null; then
    need+=(python3-nbclient python3-jupyter-client)
fi
command -v chromium >/dev/null || need+=(chromium)
plotly=$root/lib/js/plotly-2.35.3.min.js
if [ ! -f "$plotly" ] && ! command -v npm >/dev/null; then
    need+=(npm)
fi

if [ ${#need[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null || [ "$(id -u)" -ne 0 ]; then
        echo "error: missing: ${need[*]}; install these Debian packages as root (apt-get install ${need[*]})," \
             "or use the conda environment: conda env create -f environment.yml" >&2
        exit 1
    fi
    echo "setup: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get update -qq || ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
        echo "error: apt-get could not install: ${need[*]}" >&2
        exit 1
    fi
    for cmd in mvn jupyter jupyter-nbconvert chromium; do
        command -v "$cmd" >/dev/null || { echo "error: $cmd still missing after apt-get install" >&2; exit 1; }
    done
fi

"$root/tools/fetch-plotly.sh"
echo "setup: ok (java: $JAVA_HOME; mvn, jupyter nbconvert, chromium and plotly.js 2.35.3 present)"
