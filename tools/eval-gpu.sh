#!/usr/bin/env bash
# Evaluation of compressed checkpoints on the GPU engine, on the GPU host, after
#   EVAL_TOKENS=target/eval-standin.tok tools/stage-gpu.sh <checkpoint-dir …>
# staged them here (the ids come from `caldera4j tokenize-eval --model <dense model> --out …`: the
# host has neither the tokenizer's natives nor the evaluation texts). Device tool: carry
# [".device-gpu"], command: tools/eval-gpu.sh. Each checkpoint runs in its own JVM
#   caldera4j eval --gpu --tokens .device-gpu/eval.tok --mode $MODES --model <ckpt> --name $NAME
# (MODES default quick,full: the quick rows on the GPU check the evaluation path against the CPU's
# quick rows of the same checkpoints), and the rows are merged into $OUT/eval-h200.json; log
# $OUT/eval-h200.log. A plan file .device-gpu/eval.plan (lines "checkpoint-name modes sets", staged
# with EVAL_PLAN=file) picks modes and sets per checkpoint instead, e.g. full HellaSwag (~4 min on
# standin-small) only where it is needed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/eval-gpu}
mkdir -p "$OUT"
[ -x /tmp/jre/bin/java ] || tar xJf .device-gpu/jre.tar.xz -C /tmp
tools/gpu-restore.sh || exit 1
export PATH=/tmp/jre/bin:$PATH
commit=$(cat .device-gpu/GIT_COMMIT 2>/dev/null || echo unknown)
[ -f .device-gpu/eval.tok ] || { echo "error: .device-gpu/eval.tok missing: stage with EVAL_TOKENS=<file>" >&2; exit 1; }
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  if [ -f .device-gpu/eval.plan ]; then plan=$(grep -v '^#' .device-gpu/eval.plan)
  else plan=$(for c in .device-gpu/ckpt/*/; do echo "$(basename "$c") ${MODES:-quick,full} wikitext2,c4,lambada,hellaswag"; done); fi
  i=0
  while read -r name modes sets; do
    [ -n "$name" ] || continue
    i=$((i + 1))
    t0=$(date +%s)
    java -Xmx24g --enable-native-access=ALL-UNNAMED -Dcaldera4j.blas=java -Dcaldera4j.git_commit="$commit" \
      -cp '.device-gpu/lib/*' dev.caldera4j.cli.Main eval --gpu --tokens .device-gpu/eval.tok \
      --mode "$modes" --sets "$sets" --model ".device-gpu/ckpt/$name" --name "${NAME:-standin-small}" --out "$OUT/eval-$i-$name.json" < /dev/null
    echo "checkpoint $name ($modes; $sets): exit $? in $(( $(date +%s) - t0 )) s"
  done <<< "$plan"
} 2>&1 | grep --line-buffered -v -E '^(wikitext2|c4) ppl@[0-9]+: [0-9]+/[0-9]+ \(([1-9]|[1-8][0-9])%\)|^(lambada|hellaswag): [0-9]+/[0-9]+ \(([1-9]|[1-8][0-9])%\)' \
  | tee "$OUT/eval-h200.log"
files=$(ls -v "$OUT"/eval-[0-9]*-*.json 2>/dev/null)
[ -n "$files" ] && python3 tools/merge_results.py --out "$OUT/eval-h200.json" \
  --command "EVAL_TOKENS=<caldera4j tokenize-eval --model standin-small> tools/stage-gpu.sh <checkpoints> here, then on the GPU host: tools/eval-gpu.sh, one eval per plan line" $files
