#!/usr/bin/env python3
"""Merges results files (DESIGN's format) of separate runs of one command into one file.

    tools/merge_results.py --out results/eval-h200.json --command "how the runs were made" IN.json …

Rows are concatenated in argument order; machine, versions and git_commit come from the first file,
and every input's own command, commit and machine are kept in each row's "note" when they differ
from the first's (so no provenance is lost). Written atomically.
"""
import argparse
import json
import os
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", required=True, help="the command line recorded in the merged file")
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()
    envs = []
    for p in a.inputs:
        with open(p) as f:
            e = json.load(f)
        for k in ("command", "git_commit", "machine", "versions", "rows"):
            if k not in e:
                sys.exit(f"error: {p} is not a results file (no '{k}')")
        envs.append((p, e))
    first = envs[0][1]
    rows = []
    for p, e in envs:
        differs = [f"{k} {e[k]}" for k in ("git_commit", "machine") if e[k] != first[k]]
        for r in e["rows"]:
            r = dict(r)
            if differs:
                r["note"] = "; ".join(filter(None, [r.get("note"), "run: " + ", ".join(differs)]))
            rows.append(r)
    merged = {"command": a.command + " (merged from: " + " | ".join(e["command"] for _, e in envs) + ")",
              "git_commit": first["git_commit"], "machine": first["machine"], "versions": first["versions"], "rows": rows}
    d = os.path.dirname(os.path.abspath(a.out))
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(merged, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, a.out)
    print(f"wrote {len(rows)} rows from {len(envs)} files to {a.out}")


if __name__ == "__main__":
    main()
