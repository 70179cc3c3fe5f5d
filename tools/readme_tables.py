#!/usr/bin/env python3
"""Regenerates the number tables of README.md from the committed results files, so that every number the
README quotes comes from a results file (and from the command recorded in it). Tables sit between
<!-- BEGIN name --> and <!-- END name --> markers; run `python3 tools/readme_tables.py` after new results."""
import json, os, re, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    p = os.path.join(root, "results", name)
    return json.load(open(p)) if os.path.exists(p) else None


def parity():
    d = load("parity-standin-small.json")
    if d is None:
        return "_not yet run_"
    out = ["| metric | seqlen | Java | transformers (card) | difference |", "|---|---|---|---|---|"]
    for r in d["rows"]:
        m = r["metric"]
        diff = f"{r['rel_diff'] * 100:+.3f} %" if m.startswith("ppl") else f"{r['rel_diff'] * 100:+.2f} points"
        out.append(f"| {m} | {r.get('seqlen', '–')} | {r[m]:.4f} | {r['reference_value']:.4f} | {diff} |")
    out.append(f"\n_git {d['git_commit'][:10]}, {d['machine']}_")
    return "\n".join(out)


def mainjob():
    d = load("main-job-tiny.json")
    if d is None:
        return "_not yet run_"
    out = ["```", f"{'model':<18} {'bits/param':>10} {'WikiText-2':>11} {'C4':>9}"]
    for r in d["rows"]:
        bits = r.get("bits_per_param")
        out.append(f"{r['model']:<18} {('%.3f' % bits) if bits else '16 (bf16)':>10} {r['ppl_wikitext2']:>11.2f} {r['ppl_c4']:>9.2f}")
    out.append("```")
    return "\n".join(out)


def _zero_shot(r):
    """LAMBADA acc and HellaSwag acc / acc_norm cells of a row ("" where the row has none)."""
    lam = f"{r['lambada_acc']:.4f}" if "lambada_acc" in r else ""
    hs = f"{r['hellaswag_acc']:.4f} / {r['hellaswag_acc_norm']:.4f}" if "hellaswag_acc" in r else ""
    return lam, hs


def baseline():
    d = load("baseline.json")
    if d is None:
        return "_not yet run_"
    out = ["| model | seqlen | WikiText-2 ppl | C4 ppl | LAMBADA acc | HellaSwag acc / acc_norm | eval tokens/s |",
           "|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        lam, hs = _zero_shot(r)
        tps = f"{r['tokens_per_s']:.0f}" if "tokens_per_s" in r else ""
        out.append(f"| {r['model']} | {r.get('seqlen', '')} | {r.get('ppl_wikitext2', float('nan')):.2f} | {r.get('ppl_c4', float('nan')):.2f} | {lam} | {hs} | {tps} |")
    out.append(f"\n_git {d['git_commit'][:10]}, {d['machine']}; tokens/s: perplexity windows through the Java CPU forward pass on all cores_")
    return "\n".join(out)


def kernels():
    d = load("kernels-h200.json")
    if d is None:
        return "_not yet run_"
    rows = d["rows"]
    def find(shape, tokens, variant, **kw):
        for r in rows:
            if r.get("shape") == shape and r.get("tokens") == tokens and r.get("variant") == variant and all(r.get(k) == v for k, v in kw.items()):
                return r
        return None
    out = ["| shape (d_out × d_in) | tokens | fused µs | cuBLAS fp16 µs | fused vs cuBLAS | unfused µs | fused vs unfused | fused % of copy bw |",
           "|---|---|---|---|---|---|---|---|"]
    cfg = dict(group=128, rank=128, bl=4, br=4)
    for shape in ["q/o", "k/v", "gate/up", "down"]:
        for tokens in [1, 128]:
            f = find(shape, tokens, "fused", **cfg)
            c = find(shape, tokens, "fp16_cublas")
            u = find(shape, tokens, "unfused", **cfg)
            if not (f and c and u):
                continue
            out.append(f"| {shape} ({f['d_out']} × {f['d_in']}) | {tokens} | {f['us']:.1f} | {c['us']:.1f} | {c['us'] / f['us']:.2f}× | "
                       f"{u['us']:.1f} | {u['us'] / f['us']:.1f}× | {f['pct_of_copy_bw']:.0f} % |")
    copy = rows[0].get("copy_gbps")
    out.append(f"\n_copy bandwidth {copy:.0f} GB/s (read + write); git {str(d['git_commit'])[:10]}; {d['machine']}_")
    return "\n".join(out)


def e2e():
    d = load("e2e-h200.json")
    if d is None:
        return "_not yet run_"
    rows = d["rows"]
    out = ["| model | weights | variant | decode tok/s ctx 128 | decode tok/s ctx 2048 | prefill tok/s (128) | device GiB peak (measured) | planner GiB |",
           "|---|---|---|---|---|---|---|---|"]
    seen = []
    for r in rows:
        if "tokens_per_s" not in r:
            continue
        key = (r["model"], r["method"], r["variant"])
        if key in seen:
            continue
        seen.append(key)
        def get(phase, ctx):
            for x in rows:
                if (x["model"], x["method"], x.get("variant")) == key and x.get("phase") == phase and x.get("context") == ctx:
                    return x
            return None
        d128, d2048, pf = get("decode", 128), get("decode", 2048), get("prefill", 128)
        w = "fp16" if r["method"] == "dense" else f"2-bit g{r['group']} + rank {r['rank']} {r['bl']}-bit L/R ({r['bits_per_param']:.2f} bits/param)"
        gib = lambda k: f"{r[k] / 2**30:.3f}" if k in r else "–"
        out.append(f"| {r['model']} | {w} | {r['variant']} | {d128['tokens_per_s']:.1f} | {d2048['tokens_per_s']:.1f} | {pf['tokens_per_s']:.0f} | "
                   f"{gib('device_bytes_peak')} | {gib('planner_bytes')} |")
    par = [r for r in rows if r.get("metric")]
    if par:
        worst = max(r["rel_diff"] for r in par)
        out.append(f"\nParity (engine vs the Java CPU reference, {len(par) // 2} checkpoints: "
                   + ", ".join(sorted({r['model'] for r in par})) + f"): worst max|Δlogit|/max|logit| {worst:.2e}; "
                   + "; ".join(sorted({r['note'].split(';')[1].strip() for r in par})) + ".")
    for ctx in (128, 2048):
        prof = [r for r in rows if str(r.get("variant", "")).startswith("profile: ") and r.get("context") == ctx]
        if prof:
            total = sum(r["us"] for r in prof)
            parts = sorted(prof, key=lambda r: -r["us"])
            out.append(f"\nWhere a 72B decode step's GPU time goes at context {ctx} (profiled, {total / 1000:.1f} ms with the profiling events): "
                       + ", ".join(f"{r['variant'][9:]} {100 * r['us'] / total:.0f} %" for r in parts if r["us"] / total >= 0.02) + ".")
    # RTX 3090 projection from the synthetic 72B decode (fused, embedding in host memory, context 128)
    k = load("kernels-h200.json")
    r = next((x for x in rows if x["model"] == "qwen2-72b-synthetic" and x["method"] == "caldera" and x["variant"].startswith("fused, embedding in host")
              and x["phase"] == "decode" and x["context"] == 128), None)
    if r and k:
        wbytes = int(re.search(r"weights ([0-9,]+) B", r["note"]).group(1).replace(",", ""))
        ms = r["us"] / 1000
        copy = k["rows"][0]["copy_gbps"]
        achieved = wbytes / (ms / 1000) / 1e9
        frac = achieved / copy
        bw3090 = 936.0
        t_bw = wbytes / (bw3090 * frac * 1e9) * 1000
        t_sm = ms * (132 * 1.98) / (82 * 1.695)
        floor = wbytes / (bw3090 * 1e9) * 1000
        out.append(f"\nRTX 3090 projection (method): one decode step reads the {wbytes / 1e9:.2f} GB of weights; on the H200 it takes {ms:.2f} ms = "
                   f"{achieved:.0f} GB/s, {frac * 100:.0f} % of the measured copy bandwidth ({copy:.0f} GB/s). At the same fraction of a 3090's 936 GB/s: "
                   f"{t_bw:.0f} ms → **{1000 / t_bw:.1f} tokens/s** (if the kernels are bandwidth-bound); if they are instead issue-bound, time scales "
                   f"with SMs × clock (132 × 1.98 GHz → 82 × 1.695 GHz): {t_sm:.0f} ms → **{1000 / t_sm:.1f} tokens/s**, under the 3090's "
                   f"bandwidth floor of {floor:.0f} ms ({1000 / floor:.0f} tokens/s). Anchor: exllamav2 runs a 70B model at 2.5 bits/weight at about "
                   f"33 tokens/s on a 3090 Ti.")
    out.append(f"\n_git {str(d['git_commit'])[:10]}; {d['machine']}; command: `tools/stage-gpu.sh …` here, `tools/e2e-gpu.sh` on the GPU host_")
    return "\n".join(out)

def stage1():
    d = load("stage1.json")
    if d is None:
        return "_not yet run (`tools/caldera4j sweep-stage1`)_"
    out = ["| factors | rank (72B rank) | calib windows | bits/param | WikiText-2 | C4 | LAMBADA | HellaSwag | compress s | 72B bits/param | 72B GiB (fp16 / 4-bit lm_head) | fits 22 GiB | Pareto |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        if r.get("eval") != "quick":
            continue
        fits = "yes" if r["fits_72b_22gib"] else ("with 4-bit lm_head" if r["fits_72b_22gib_head4"] else "no")
        out.append(f"| {r['bl']}-bit | {r['rank']} ({r['rank_72b']}) | {r['calib_seqs']} | {r['bits_per_param']:.3f} | {r['ppl_wikitext2']:.2f} | "
                   f"{r['ppl_c4']:.2f} | {r['lambada_acc']:.3f} | {r['hellaswag_acc']:.3f} | {r['seconds']:.0f} | {r['bits_per_param_72b']:.3f} | "
                   f"{r['bytes_72b'] / 2**30:.2f} / {r['bytes_72b_head4'] / 2**30:.2f} | {fits} | {'yes' if r.get('pareto') else ''} |")
    out.append(f"\n_quick evaluation (64 × 512-token windows, 1,000 LAMBADA, 1,000 HellaSwag); Q 2-bit g128; "
               f"{d['rows'][0].get('outer_iters')} outer iterations; git {d['git_commit'][:10]}, {d['machine']}_")
    return "\n".join(out)


def calderavsgptq():
    d = load("caldera-vs-gptq-standin-small.json")
    if d is None:
        return "_not yet run (`tools/caldera4j caldera-vs-gptq`)_"
    rows = d["rows"]
    cal = [r for r in rows if r["method"] == "caldera"]
    matched = {r["layer"]: r for r in rows if r.get("matched")}
    rtn = {r["layer"]: r for r in rows if r["method"] == "rtn"}
    by_kind = {}
    for c in cal:
        kind = c["layer"].split(".")[-1]
        by_kind.setdefault(kind, []).append(c)
    out = ["| matrix | d_out × d_in | CALDERA bits | CALDERA error | matched GPTQ | GPTQ bits | GPTQ error | RTN g128 error | CALDERA wins |",
           "|---|---|---|---|---|---|---|---|---|"]
    for kind, cs in by_kind.items():
        m = [matched[c["layer"]] for c in cs if c["layer"] in matched]
        mean = lambda xs: sum(xs) / len(xs)
        g = m[0]["group"] if m else "–"
        out.append(f"| {kind} (×{len(cs)}) | {cs[0]['d_out']} × {cs[0]['d_in']} | {cs[0]['bits_per_param']:.3f} | {mean([c['proxy_error'] for c in cs]):.4f} | "
                   f"g{g} | {m[0]['bits_per_param']:.3f} | {mean([x['proxy_error'] for x in m]):.4f} | {mean([rtn[c['layer']]['proxy_error'] for c in cs]):.4f} | "
                   f"{sum(1 for c in cs if c.get('caldera_wins'))} of {len(cs)} |")
    wins = sum(1 for c in cal if c.get("caldera_wins"))
    c0 = cal[0]
    out.append(f"\n_CALDERA rank {c0['rank']}, L and R at {c0['bl']} bits, Q 2-bit g{c0['group']}, {c0['outer_iters']} outer iterations; "
               f"errors are tr(ΔHΔᵀ)/tr(WHWᵀ), means over the layers; CALDERA wins {wins} of {len(cal)} matrices; "
               f"calibration {c0['calib_seqs']} × {c0['calib_seqlen']}; git {d['git_commit'][:10]}, {d['machine']}_")
    return "\n".join(out)


def stage2():
    d = load("stage2.json")
    if d is None:
        return "_not yet run (`tools/caldera4j sweep-stage2`)_"
    rows = [r for r in d["rows"] if r.get("signal") and r.get("ppl_wikitext2") is not None]
    uni = {r["budget_bits"]: r for r in rows if r["signal"] == "uniform"}
    out = ["| budget (bits/param) | signal | bits/param | WikiText-2 | vs uniform | C4 | vs uniform |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        u = uni[r["budget_bits"]]
        rel = lambda k: "" if r is u else f"{(r[k] / u[k] - 1) * 100:+.1f} %"
        out.append(f"| {r['budget_bits']:.4f} (uniform rank {u['rank']}) | {r['signal']} | {r['bits_per_param']:.4f} | {r['ppl_wikitext2']:.2f} | {rel('ppl_wikitext2')} | "
                   f"{r['ppl_c4']:.2f} | {rel('ppl_c4')} |")
    dense = next((r for r in d["rows"] if r["method"] == "dense"), None)
    if dense:
        out.append(f"\n_dense {dense['ppl_wikitext2']:.2f} / {dense['ppl_c4']:.2f}; {rows[0].get('note', '')}; one seed; git {d['git_commit'][:10]}, {d['machine']}_")
    return "\n".join(out)


def phase1():
    d = load("phase1.json")
    if d is None:
        return "_not yet run (`tools/caldera4j sweep-phase1`)_"
    rows = [r for r in d["rows"] if r.get("eval") == "quick"]
    out = ["| method | bits | group | act-order | bits/param | WikiText-2 | C4 | LAMBADA | HellaSwag | compress s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["bits_per_param"], r["method"])):
        g = r.get("group")
        out.append(f"| {r['method']} | {r.get('bq', 16)} | {'per channel' if g == -1 else (g if g else '–')} | {'yes' if r.get('act_order') else ''} | "
                   f"{r['bits_per_param']:.3f} | {r['ppl_wikitext2']:.2f} | {r['ppl_c4']:.2f} | {r['lambada_acc']:.3f} | {r['hellaswag_acc']:.3f} | "
                   f"{'' if r.get('seconds') is None else format(r['seconds'], '.0f')} |")
    cal = [r for r in rows if r.get("calib_seqs")]
    c = f"calibration {cal[0]['calib_seqs']} × {cal[0]['calib_seqlen']}; " if cal else ""
    partial = " — **partial**: the rows that finished this session" if "(partial)" in d["command"] else ""
    out.append(f"\n_quick evaluation (64 × 512-token windows, 1,000 LAMBADA, 1,000 HellaSwag); {c}git {d['git_commit'][:10]}, {d['machine']}{partial}_")
    return "\n".join(out)


def _label(r):
    if r["method"] == "dense":
        return "dense"
    if r["method"] == "caldera":
        ovr = " + KL overrides" if r.get("overrides") else ""
        return f"CALDERA 2-bit g{r['group']} r{r.get('rank', 0)} {r.get('bl', 16)}-bit L/R{ovr}"
    return f"{r['method'].upper()} {r['bq']}-bit " + ("per channel" if r.get("group") == -1 else f"g{r['group']}") + (" act-order" if r.get("act_order") and r["method"] == "gptq" else "")


def _same(a, b):
    keys = ("method", "bq", "group", "act_order", "rank", "bl", "br", "calib_seqs", "calib_seqlen", "overrides")
    return all(a.get(k) == b.get(k) for k in keys)


def fulleval():
    d = load("eval-h200.json")
    if d is None:
        return "_not yet run (`tools/eval-gpu.sh` on the GPU host)_"
    rows = d["rows"]
    out = ["| model | bits/param | eval | seqlen | WikiText-2 | C4 | LAMBADA | HellaSwag acc / acc_norm | where |", "|---|---|---|---|---|---|---|---|---|"]
    # rows, and where each ran: the engine's, the CPU's full PTQ row, the dense model's full row (CPU)
    sources = [(rows, "GPU engine")]
    for name, keep in (("phase1-full.json", lambda r: True), ("baseline.json", lambda r: r.get("model") == "standin-small")):
        f = load(name)
        if f:
            sources.append(([r for r in f["rows"] if keep(r)], f"CPU (results/{name})"))
    for src, where in sources:
        for r in src:
            if r.get("eval") != "full":
                continue
            lam, hs = _zero_shot(r)
            bits = f"{r['bits_per_param']:.3f}" if r.get("bits_per_param") else "16.004"
            out.append(f"| {_label(r)} | {bits} | full | {r['seqlen']} | {r['ppl_wikitext2']:.2f} | {r['ppl_c4']:.2f} | {lam} | {hs} | {where} |")
    out.append(f"\n_GPU engine: fused kernels (fp16 fallback where they do not apply), ids from `tokenize-eval`, git {d['git_commit'][:10]} (later runs' commits in the rows' notes), {d['machine']}; "
               "full HellaSwag (10,042 tasks) only where shown: chance level on this model_")
    # the same checkpoints' quick rows on the CPU: the check of the GPU evaluation path
    cpu = []
    for name in ("phase1.json", "stage1.json", "stage2-seq.json"):
        f = load(name)
        if f:
            cpu += [r for r in f["rows"] if r.get("eval") == "quick"]
    check = ["", "| model | path on the GPU | WikiText-2 GPU / CPU | C4 GPU / CPU | LAMBADA GPU / CPU | HellaSwag GPU / CPU |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("eval") != "quick":
            continue
        c = next((x for x in cpu if _same(x, r) and x.get("backend", "cpu") == "cpu"), None)
        if c is None:
            continue
        path = "fp16 (rank not a multiple of 8)" if r["method"] == "caldera" and r.get("rank", 0) % 8 else ("fused Q" + (" + L·R" if r.get("rank") else "") if r["bq"] == 2 else "fp16")
        rel = lambda k: f"{r[k]:.2f} / {c[k]:.2f} ({(r[k] / c[k] - 1) * 100:+.3f} %)"
        check.append(f"| {_label(r)} | {path} | {rel('ppl_wikitext2')} | {rel('ppl_c4')} | {r['lambada_acc']:.3f} / {c['lambada_acc']:.3f} | "
                     f"{r['hellaswag_acc']:.3f} / {c['hellaswag_acc']:.3f} |")
    if len(check) > 3:
        out += check + ["", "_quick evaluation of the same checkpoint on the GPU engine and on the CPU reference (fp32): the check of the GPU evaluation path_"]
    return "\n".join(out)


def main():
    path = os.path.join(root, "README.md")
    text = open(path).read()
    for name, fn in [("mainjob", mainjob), ("parity", parity), ("baseline", baseline), ("kernels", kernels), ("e2e", e2e),
                     ("stage1", stage1), ("calderavsgptq", calderavsgptq), ("stage2", stage2), ("phase1", phase1), ("fulleval", fulleval)]:
        pat = re.compile(r"(<!-- BEGIN %s -->\n)(?:.*?\n)?(<!-- END %s -->)" % (name, name), re.S)
        if not pat.search(text):
            sys.exit(f"README.md has no <!-- BEGIN {name} --> … <!-- END {name} --> block")
        text = pat.sub(lambda m: m.group(1) + fn() + "\n" + m.group(2), text)
    tmp = path + ".tmp"
    open(tmp, "w").write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
