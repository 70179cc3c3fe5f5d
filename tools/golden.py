"""Golden tensors from transformers for caldera4j's Java forward pass (run where torch is).

    python3 tools/golden.py --model data/models/tiny --out src/test/resources/golden/tiny.safetensors \
        [--model DIR2 --out FILE2 ...] [--wikitext ../shared/data/eval/wikitext-2/wiki.test.raw]

For each model: transformers in float32 on the CPU (weights bf16 -> fp32 exactly, eager
attention, matmul precision "highest") runs the prompts of tools/golden_prompts.json and writes a
safetensors fixture (<= --max-bytes) and a JSON sidecar beside it (same name, .json):

  input_ids      I32 [2, T]        first T tokens of tokenizer.json's encoding of each prompt
                                   (no special tokens added; T = --tokens = 32)
  positions      I32 [P]           token positions whose logits are stored: the last P of T
                                   (P = T when it fits in --max-bytes, else the largest multiple of 8)
  logits         F32 [2, P, vocab] logits[b, i] = prediction after tokens 0..positions[i] of prompt b
  hidden_states  F32 [L+1, hidden] prompt 0, last position: [0] embedding output, [l] (l = 1..L)
                                   output of decoder layer l-1, i.e. model.layers[l-1] (residual
                                   stream, before the final norm)
  final_norm     F32 [hidden]      prompt 0, last position: the final RMSNorm's output

The sidecar and the safetensors __metadata__ carry the prompts, versions and how it was
computed. With --wikitext also WikiText-2 test perplexity by the project's protocol (rows with
their "\n" joined by "\n\n", one tokenization, non-overlapping windows, mean NLL of every
predicted token), fp32, on the GPU if there is one.
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time


def parse_args(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, help="model folder (HF layout); repeatable")
    ap.add_argument("--out", action="append", required=True, help="fixture .safetensors, one per --model")
    ap.add_argument("--prompts", default=os.path.join(here, "golden_prompts.json"))
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--max-bytes", type=int, default=2_000_000)
    ap.add_argument("--wikitext", help="wiki.test.raw: also compute WikiText-2 test perplexity")
    ap.add_argument("--seqlens", default="512,1024,2048",
                    help="comma-separated window lengths for --wikitext (those within the model's context)")
    a = ap.parse_args(argv)
    if len(a.model) != len(a.out):
        ap.error(f"{len(a.model)} --model but {len(a.out)} --out: give one --out per --model")
    return a


def stored_positions(n_prompts, T, V, hidden, layers, max_bytes):
    """Last P positions of T whose F32 logits fit in max_bytes beside the other tensors."""
    other = 8 * n_prompts * T + 4 * T + 4 * (layers + 2) * hidden + 8192  # ids, positions, states, header
    P = min(T, (max_bytes - other) // (4 * n_prompts * V))
    if P < T:
        P -= P % 8
    if P < 1:
        sys.exit(f"vocab {V}: not even one position of logits fits in --max-bytes {max_bytes}")
    return list(range(T - P, T))


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def wikitext_ppl(model, tok, path, seqlens, device):
    import torch
    with open(path, encoding="utf-8") as fh:
        rows = fh.read().split("\n")
    if rows and rows[-1] == "":
        rows = rows[:-1]  # the file ends with "\n": no row after it
    text = "\n\n".join(r + "\n" for r in rows)
    ids = torch.tensor(tok.encode(text, add_special_tokens=False).ids, dtype=torch.long)
    out = dict(rows=len(rows), tokens=len(ids))
    model.to(device)
    for S in seqlens:
        n = len(ids) // S
        x = ids[: n * S].view(n, S)
        nll, cnt = 0.0, 0
        with torch.no_grad():
            for i in range(0, n, 8):
                xb = x[i:i + 8].to(device)
                logits = model(input_ids=xb).logits.float()
                nll += torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.shape[-1]), xb[:, 1:].reshape(-1), reduction="sum").item()
                cnt += xb[:, 1:].numel()
        out[f"seqlen_{S}"] = dict(windows=n, predicted_tokens=cnt, mean_nll=nll / cnt, ppl=math.exp(nll / cnt))
        print(f"  wikitext-2 seqlen {S}: {n} windows, ppl {math.exp(nll / cnt):.4f}", flush=True)
    model.to("cpu")
    return out


def golden(model_dir, out_path, prompts, a):
    import torch
    import tokenizers
    import transformers
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    t0 = time.time()
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    T = a.tokens
    full = [tok.encode(p, add_special_tokens=False).ids for p in prompts]
    short = [i for i, ids in enumerate(full) if len(ids) < T]
    if short:
        sys.exit(f"prompts {short} of {a.prompts} have fewer than {T} tokens with {model_dir}: use longer text")
    input_ids = torch.tensor([ids[:T] for ids in full], dtype=torch.long)

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model = model.float().eval()
    cfg = model.config
    L, H, V = cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size
    if model.model.embed_tokens.weight.dtype != torch.float32:
        sys.exit(f"{model_dir}: weights loaded as {model.model.embed_tokens.weight.dtype}, expected float32")

    caught = {}

    def keep(name):
        def hook(module, inputs, output):
            caught[name] = (output[0] if isinstance(output, tuple) else output).detach()
        return hook

    hooks = [model.model.embed_tokens.register_forward_hook(keep("embed")),
             model.model.norm.register_forward_hook(keep("norm"))]
    hooks += [layer.register_forward_hook(keep(f"layer{l}")) for l, layer in enumerate(model.model.layers)]
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits.float()  # (2, T, V)
    for h in hooks:
        h.remove()
    if len(caught) != L + 2:
        sys.exit(f"caught {sorted(caught)}: expected embed, {L} layers and norm; the model's modules changed")
    states = torch.stack([caught["embed"][0, -1]] + [caught[f"layer{l}"][0, -1] for l in range(L)])  # (L+1, H)
    final_norm = caught["norm"][0, -1]  # (H)

    # The hooks must mean what the fixture says: the final norm of the last layer's output,
    # projected by the tied embedding, gives the logits.
    with torch.no_grad():
        hL = states[-1]
        w = model.model.norm.weight
        eps = cfg.rms_norm_eps
        renorm = hL * torch.rsqrt(hL.pow(2).mean() + eps) * w
        relogit = model.lm_head(final_norm)
    check = dict(final_norm_vs_manual_rmsnorm=float((renorm - final_norm).abs().max()),
                 logits_vs_lm_head_of_final_norm=float((relogit - logits[0, -1]).abs().max()))
    if max(check.values()) > 1e-3:
        sys.exit(f"{model_dir}: hooked states do not reproduce the model's output: {check}")

    pos = stored_positions(len(prompts), T, V, H, L, a.max_bytes)
    tensors = {"input_ids": input_ids.to(torch.int32).contiguous(),
               "positions": torch.tensor(pos, dtype=torch.int32),
               "logits": logits[:, pos].contiguous(),
               "hidden_states": states.contiguous(),
               "final_norm": final_norm.contiguous()}
    model_files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    info = dict(
        model=os.path.basename(os.path.normpath(model_dir)),
        model_files_sha256={f: sha256_of(os.path.join(model_dir, f)) for f in model_files},
        tokenizer_sha256=sha256_of(os.path.join(model_dir, "tokenizer.json")),
        config=dict(vocab_size=V, hidden_size=H, num_hidden_layers=L, num_attention_heads=cfg.num_attention_heads,
                    num_key_value_heads=cfg.num_key_value_heads, intermediate_size=cfg.intermediate_size,
                    rms_norm_eps=eps),
        prompts=prompts, prompts_source=a.prompts_source, prompt_tokens_full=[len(f) for f in full],
        tokens=T, positions=f"{pos[0]}..{pos[-1]} ({len(pos)} of {T})",
        layout={"input_ids": f"I32 [{len(prompts)}, {T}]: first {T} tokens of tokenizer.json's encoding of "
                             f"each prompt, no special tokens added",
                "positions": f"I32 [{len(pos)}]: token positions whose logits are stored",
                "logits": f"F32 [{len(prompts)}, {len(pos)}, {V}]: logits[b, i] predicts the token after "
                          f"position positions[i] of prompt b (causal, whole {T}-token prompt as one sequence)",
                "hidden_states": f"F32 [{L + 1}, {H}]: prompt 0, position {T - 1}: [0] embedding output, "
                                 f"[l] (l = 1..{L}) output of decoder layer l-1 (model.layers[l-1]), before the final norm",
                "final_norm": f"F32 [{H}]: prompt 0, position {T - 1}: output of the final RMSNorm"},
        how="transformers AutoModelForCausalLM.from_pretrained(dtype=float32, attn_implementation='eager'), "
            "model.float().eval(), CPU, torch.set_float32_matmul_precision('highest'), one batch of both prompts "
            "(no padding); hidden states caught by forward hooks on embed_tokens, each decoder layer and norm",
        checks=check,
        dtype="float32", device="cpu",
        versions=dict(torch=torch.__version__, transformers=transformers.__version__,
                      tokenizers=tokenizers.__version__, python=sys.version.split()[0]))
    if a.wikitext:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        # a window longer than the trained context would measure RoPE extrapolation, not the model
        seqlens = [int(s) for s in a.seqlens.split(",") if int(s) <= cfg.max_position_embeddings]
        info["wikitext2_test"] = dict(device=device, **wikitext_ppl(model, tok, a.wikitext, seqlens, device))

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp"
    save_file(tensors, tmp, metadata={"golden": json.dumps(info, ensure_ascii=False)})
    os.replace(tmp, out_path)
    side = os.path.splitext(out_path)[0] + ".json"
    with open(side + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(info, fh, ensure_ascii=False, indent=1)
    os.replace(side + ".tmp", side)
    print(f"{out_path}: {os.path.getsize(out_path)} bytes, positions {info['positions']}, checks {check}, "
          f"{time.time() - t0:.1f}s", flush=True)
    print(f"  prompt tokens: {input_ids.tolist()}", flush=True)
    if os.path.getsize(out_path) > a.max_bytes:
        sys.exit(f"{out_path} is {os.path.getsize(out_path)} bytes, over --max-bytes {a.max_bytes}")


def main(argv):
    a = parse_args(argv)
    import torch
    torch.set_float32_matmul_precision("highest")  # no TF32: this is the fp32 reference
    torch.backends.cudnn.allow_tf32 = False
    with open(a.prompts, encoding="utf-8") as fh:
        doc = json.load(fh)
    a.prompts_source = doc["source"]
    for model_dir, out in zip(a.model, a.out):
        golden(model_dir, out, doc["prompts"], a)


if __name__ == "__main__":
    main(sys.argv[1:])
