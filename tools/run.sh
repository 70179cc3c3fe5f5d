#!/usr/bin/env bash
# The README's main job, on the embedded default model (data/models/tiny, the project's own):
# set-up and build, generate text, compress the model with GPTQ (2 and 3 bits) and CALDERA (2-bit Q + rank-16
# 4-bit L·R: on a 128-wide model rank 16 costs ~1 bit/param, so GPTQ 3-bit is its matched-bits rival), and
# evaluate dense and compressed side by side (quick protocol). Outputs go to target/run/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/setup.sh
# setup.sh runs in its own process: pick the JDK 25 here too, or mvn builds with the machine's default java
# shellcheck source=tools/jdk25.sh
. tools/jdk25.sh
caldera4j_find_jdk25
echo "== build"
mvn -q -B -ntp -DskipTests package
model=${1:-data/models/tiny}
out=target/run
mkdir -p "$out"
# one BLAS thread per process: OpenBLAS's spinning workers cost more than they give on small matrices
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
echo "== generate ($model, greedy)"
tools/caldera4j generate --model "$model" --prompt "The history of the city" --max-tokens 48
calib=(--calib-seqs 32 --calib-seqlen 512 --seed 0)
echo "== compress: GPTQ 2-bit, group 64"
rm -rf "$out/gptq-2bit-g64" "$out/gptq-2bit-g64.partial"
tools/caldera4j compress --model "$model" --method gptq --bits 2 --group 64 "${calib[@]}" --out "$out/gptq-2bit-g64"
echo "== compress: GPTQ 3-bit, group 128 (about the bits CALDERA spends on this small model)"
rm -rf "$out/gptq-3bit-g128" "$out/gptq-3bit-g128.partial"
tools/caldera4j compress --model "$model" --method gptq --bits 3 --group 128 "${calib[@]}" --out "$out/gptq-3bit-g128"
echo "== compress: CALDERA 2-bit group 128 + rank 16, 4-bit L and R"
rm -rf "$out/caldera-2bit-r16" "$out/caldera-2bit-r16.partial"
tools/caldera4j compress --model "$model" --method caldera --bits 2 --group 128 --rank 16 --factor-bits 4 --iters 5 \
    "${calib[@]}" --out "$out/caldera-2bit-r16"
echo "== evaluate dense and compressed (quick: 64 windows of 512 tokens of WikiText-2 and C4)"
tools/caldera4j eval --model "$model" --model "$out/gptq-2bit-g64" --model "$out/gptq-3bit-g128" --model "$out/caldera-2bit-r16" \
    --name dense,gptq-2bit-g64,gptq-3bit-g128,caldera-2bit-r16 --mode quick --sets wikitext2,c4 --out "$out/compare.json"
python3 - "$out/compare.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
print(f"\n{'model':<18} {'bits/param':>10} {'WikiText-2':>11} {'C4':>9}")
for r in rows:
    bits = r.get("bits_per_param")
    print(f"{r['model']:<18} {('%.3f' % bits) if bits else '16 (bf16)':>10} {r['ppl_wikitext2']:>11.2f} {r['ppl_c4']:>9.2f}")
PY
