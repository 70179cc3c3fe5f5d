#!/usr/bin/env python3
"""Writes the overrides file `compress --overrides` reads from one row of results/stage2.json.

    tools/overrides_from_results.py --signal kl --budget 2.5129 [--results results/stage2.json] --out map.json

A row's "overrides" is the compact map Stage 2 records ("0.q:r0 0.v:r64 …": rank per layer.matrix,
relative to the row's base bq/group/bl/br); this expands it to the per-matrix JSON settings. Rank 0
(no factors) gets bl = br = 16, as the format requires. Used for the layer-sequential confirmation of
the KL map (README "Stage 2").
"""
import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results/stage2.json")
    ap.add_argument("--signal", required=True)
    ap.add_argument("--budget", type=float, required=True, help="budget_bits of the row (matched to 1e-3)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rows = [r for r in json.load(open(a.results))["rows"]
            if r.get("signal") == a.signal and abs(r.get("budget_bits", -1) - a.budget) < 1e-3 and r.get("overrides")]
    if len(rows) != 1:
        sys.exit(f"error: {len(rows)} rows of {a.results} have signal {a.signal}, budget {a.budget} and an overrides map; need exactly one")
    r = rows[0]
    out = {}
    for tok in r["overrides"].split():
        key, val = tok.split(":")
        if not val.startswith("r"):
            sys.exit(f"error: override '{tok}' changes more than the rank; this tool expands rank maps only")
        rank = int(val[1:])
        out[key] = {"bq": r["bq"], "group": r["group"], "rank": rank,
                    "bl": r["bl"] if rank else 16, "br": r["br"] if rank else 16}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=0)
    print(f"wrote {len(out)} overrides ({a.signal}, {r['bits_per_param']:.4f} bits/param) to {a.out}")


if __name__ == "__main__":
    main()
