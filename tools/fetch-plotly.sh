#!/usr/bin/env bash
# Puts plotly.js 2.35.3 (npm package plotly.js-dist-min) at lib/js/plotly-2.35.3.min.js, where the
# notebook kernel inlines it from (once per notebook, so charts draw offline).
# Not committed: the file is 4.5 MB. Pinned by SHA-256; quick no-op when the file is already there.
# plotly.js 3+ drops Tablesaw's plain-string titles, hence the pin.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=2.35.3
sha256=fc84e3cfa55d23d3654c562ea5deb3c274eb6972a6adf66941d1a821e34825e4
target=$root/lib/js/plotly-$version.min.js

if [ -f "$target" ] && echo "$sha256  $target" | sha256sum --check --status; then
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "error: npm is needed once to fetch plotly.js $version into lib/js/ (Debian: apt-get install npm;" \
         "conda: environment.yml has nodejs)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "plotly.js-dist-min@$version" >/dev/null)
tar -xzf "$work/plotly.js-dist-min-$version.tgz" -C "$work" package/plotly.min.js
if ! echo "$sha256  $work/package/plotly.min.js" | sha256sum --check --status; then
    echo "error: plotly.js-dist-min@$version from npm does not match the pinned SHA-256 $sha256;" \
         "refusing to use it" >&2
    exit 1
fi
mkdir -p "$(dirname "$target")"
cp "$work/package/plotly.min.js" "$target.tmp"
mv "$target.tmp" "$target"
echo "fetched plotly.js $version into ${target#"$root"/}"
