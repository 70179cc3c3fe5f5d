#!/usr/bin/env bash
# The README's main job, on the embedded default model (data/models/tiny, the project's own):
# set-up and build, then generate text and evaluate the dense model (quick protocol).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/setup.sh
echo "== build"
mvn -q -B -DskipTests package
model=${1:-data/models/tiny}
echo "== generate ($model, greedy)"
tools/caldera4j generate --model "$model" --prompt "The history of the city" --max-tokens 48
echo "== evaluate ($model, quick: 64 windows of 512 tokens of WikiText-2 and C4)"
tools/caldera4j eval --model "$model" --mode quick --sets wikitext2,c4
