#!/usr/bin/env python3
"""fp16 baseline for KernelBench: y = x·Wᵀ through PyTorch (cuBLAS) in the given shapes.

Timing as in KernelBench: CUDA events around each call, the calls queued behind a spin
(torch.cuda._sleep) so the Python launch rate cannot stretch the intervals, warm-up first,
the median of the calls, and the weights rotated over enough copies that their total is at
least 3x the L2. Also measures a 1 GiB device-to-device copy (bytes read + written / time).

Usage: cublas_bench.py --shapes q/o:8192:8192,k/v:1024:8192 --tokens 1,128 --l2-bytes N --out FILE
Writes JSON {"torch", "cuda", "device", "copy_gbps", "rows": [{"shape","d_out","d_in","tokens","us"}]}.
"""
import argparse
import json
import math
import os
import statistics

import torch


def median_us(fn, nbuf, reps):
    for i in range(max(3, nbuf)):
        fn(i % nbuf)
    torch.cuda.synchronize()
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(reps + 1)]
    torch.cuda._sleep(int(2e6 + reps * 3e5))  # ~1-2 GHz cycles: a few ms to tens of ms of spin
    ev[0].record()
    for i in range(reps):
        fn((i + 1) % nbuf)
        ev[i + 1].record()
    torch.cuda.synchronize()
    return statistics.median(1000.0 * ev[i].elapsed_time(ev[i + 1]) for i in range(reps))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shapes", required=True, help="name:d_out:d_in,...")
    p.add_argument("--tokens", default="1,128")
    p.add_argument("--l2-bytes", type=int, default=60 << 20)
    p.add_argument("--reps", type=int, default=100)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.manual_seed(0)
    dev = torch.device("cuda")

    n = 1 << 30
    src = torch.empty(n, dtype=torch.uint8, device=dev).random_()
    dst = torch.empty_like(src)
    copy_us = median_us(lambda i: dst.copy_(src), 1, 20)
    copy_gbps = 2.0 * n / (copy_us * 1e3)
    del src, dst

    rows = []
    for spec in a.shapes.split(","):
        name, d_out, d_in = spec.split(":")
        d_out, d_in = int(d_out), int(d_in)
        nbuf = max(2, min(64, math.ceil(3 * a.l2_bytes / (2 * d_out * d_in))))
        w0 = torch.randn(d_out, d_in, dtype=torch.float16, device=dev) / math.sqrt(d_in)
        ws = [w0] + [w0.clone() for _ in range(nbuf - 1)]
        for t in (int(s) for s in a.tokens.split(",")):
            x = torch.randn(t, d_in, dtype=torch.float16, device=dev)
            y = torch.empty(t, d_out, dtype=torch.float16, device=dev)
            us = median_us(lambda i: torch.matmul(x, ws[i].t(), out=y), nbuf, a.reps)
            rows.append({"shape": name, "d_out": d_out, "d_in": d_in, "tokens": t, "us": us})
            print(f"cublas fp16 {name:8s} T={t:<4d} {us:9.2f} us  [{nbuf} copies]", flush=True)
        del ws, w0
        torch.cuda.empty_cache()

    out = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0),
           "copy_gbps": copy_gbps, "rows": rows}
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
