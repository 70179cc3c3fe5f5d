#!/usr/bin/env bash
# On the GPU host: links the checkpoint files tools/stage-gpu.sh stored by content
# (.device-gpu/blobs/<sha256>) back into .device-gpu/ckpt/<name>/, checking each file's hash.
set -euo pipefail
cd "$(dirname "$0")/.."
d=.device-gpu
[ -f "$d/ckpt.manifest" ] || exit 0
while read -r sha path; do
  mkdir -p "$d/ckpt/$(dirname "$path")"
  ln -f "$d/blobs/$sha" "$d/ckpt/$path"
done < "$d/ckpt.manifest"
# a damaged transfer must not evaluate quietly
(cd "$d/blobs" && sha256sum --quiet -c <(for f in *; do echo "$f  $f"; done)) \
  || { echo "error: a staged checkpoint file does not match its hash: stage again" >&2; exit 1; }
echo "restored $(cut -d' ' -f2 "$d/ckpt.manifest" | cut -d/ -f1 | sort -u | wc -l) checkpoint(s) into $d/ckpt"
