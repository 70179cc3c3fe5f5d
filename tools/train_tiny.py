"""Train caldera4j's own tiny Qwen2 model (data/models/tiny) from scratch; run on a CUDA host.

    python3 tools/train_tiny.py --corpus ../shared/data/train/corpus --out data/models/tiny

Defaults give the project's *tiny* model: byte-level BPE vocab 4,096, hidden 128, 4 layers,
4 heads / 2 KV heads (head 32), SwiGLU 384, context 1,024, tied embeddings: 1.31 M parameters,
2.6 MB in bf16. Trained on two files of the shared corpus (wikipedia_00, books_00).

The recipe is the one of ../shared/tools/train-standin/train.py (which made standin-small):
(1) documents = blank-line separated blocks of the corpus files, shuffled by the seed, 0.5 %
(at least 20) held out for validation; (2) a byte-level BPE tokenizer in Qwen2's style (NFC,
Qwen2's split regex, byte-level, `<|endoftext|>` = id 0 = eos = bos) trained on the training
documents; (3) Qwen2ForCausalLM (q/k/v bias, GQA, RoPE θ 1e6, SwiGLU, RMSNorm ε 1e-6) trained
with bf16 autocast, AdamW (0.9, 0.95, wd 0.1 on matrices), linear warm-up then cosine to lr/10,
gradient clipping 1.0, random non-overlapping windows; validation every --eval-every steps,
stopping after --patience evaluations without improvement and keeping the best weights.
standin-small is this recipe with the flags given in the model card (MODEL_CARD.md, section
"Reproducing standin-small").

Output (Hugging Face layout): config.json, generation_config.json, model.safetensors (bf16; or
shards + index with --shard-mb), tokenizer.json, tokenizer_config.json, train_log.json,
MODEL_CARD.md. Deterministic for a given seed, corpus and hardware/software (deterministic
torch algorithms, eager attention; torch warns if an op has no deterministic kernel).
"""
import argparse
import glob
import json
import lzma
import math
import os
import random
import shlex
import sys
import time

# cuBLAS needs a fixed workspace to be deterministic; it must be set before CUDA starts.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
EOS = "<|endoftext|>"
TINY_FILES = "books_00.txt.xz,wikipedia_00.txt.xz"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True, help="folder with the corpus *.txt.xz files")
    ap.add_argument("--files", default=TINY_FILES,
                    help="comma-separated file names inside --corpus, or 'all' for every *.txt.xz there")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="tiny", help="model name for the card")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=384)
    ap.add_argument("--seqlen", type=int, default=1024, help="training window = max_position_embeddings")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-epochs", type=float, default=6.0)
    ap.add_argument("--max-minutes", type=float, default=3.0, help="stop at the first evaluation after this")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--patience", type=int, default=1, help="evaluations without improvement before stopping")
    ap.add_argument("--shard-mb", type=int, default=0, help="0: one model.safetensors; else shards of this size")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.hidden % a.heads != 0:
        ap.error(f"--hidden {a.hidden} is not a multiple of --heads {a.heads}: pick hidden = heads x head_dim")
    if a.heads % a.kv_heads != 0 or a.heads // a.kv_heads < 2:
        ap.error(f"--heads {a.heads} / --kv-heads {a.kv_heads}: Qwen2 GQA needs heads = k x kv_heads with k >= 2")
    if (a.hidden // a.heads) % 2 != 0:
        ap.error(f"head_dim {a.hidden // a.heads} is odd: RoPE rotates pairs, pick an even head_dim")
    return a


def corpus_files(a):
    if a.files == "all":
        files = sorted(glob.glob(os.path.join(a.corpus, "*.txt.xz")))
    else:
        files = sorted(os.path.join(a.corpus, f.strip()) for f in a.files.split(",") if f.strip())
    missing = [f for f in files if not os.path.isfile(f)]
    if missing or not files:
        sys.exit(f"corpus files missing: {missing or a.corpus + '/*.txt.xz'}; "
                 f"point --corpus at ../shared/data/train/corpus (or a folder holding the named files)")
    return files


def load_docs(files, seed):
    """Documents = blank-line separated blocks; shuffled by the seed; 0.5 % (>= 20) held out."""
    docs = []
    for f in files:
        with lzma.open(f, "rt", encoding="utf-8") as fh:
            docs += [d for d in fh.read().split("\n\n") if d.strip()]
    random.Random(seed).shuffle(docs)
    n_val = max(20, len(docs) // 200)
    if len(docs) < 2 * n_val:
        sys.exit(f"only {len(docs)} documents in {files}: too few to hold out {n_val} for validation")
    return docs[n_val:], docs[:n_val]


def lr_at(step, a, warmup, total_steps):
    if step < warmup:
        return a.lr * (step + 1) / warmup
    p = (step - warmup) / max(1, total_steps - warmup)
    return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def main(argv):
    a = parse_args(argv)
    import torch
    from tokenizers import Tokenizer, Regex, models, normalizers, pre_tokenizers, decoders, trainers
    import tokenizers
    import transformers
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if not torch.cuda.is_available():
        sys.exit("no CUDA device: train_tiny.py trains on a GPU host (see ../shared/device/README.md)")
    random.seed(a.seed)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()

    files = corpus_files(a)
    train_docs, val_docs = load_docs(files, a.seed)
    print(f"docs train {len(train_docs)} val {len(val_docs)} from {[os.path.basename(f) for f in files]} "
          f"{time.time() - t0:.0f}s", flush=True)

    # ---- tokenizer: Qwen2's pipeline (NFC, split regex, byte-level), BPE merges learnt here
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=a.vocab, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(train_docs, trainer=trainer)
    tok.save(os.path.join(a.out, "tokenizer.json"))
    eos_id = tok.token_to_id(EOS)
    V = tok.get_vocab_size()
    if eos_id != 0:
        sys.exit(f"{EOS} got id {eos_id}, expected 0: the tokenizer trainer changed its special-token order")
    print(f"tokenizer vocab {V} eos {eos_id} {time.time() - t0:.0f}s", flush=True)

    def encode(ds):
        ids = []
        for enc in tok.encode_batch(ds):
            ids.extend(enc.ids)
            ids.append(eos_id)
        return torch.tensor(ids, dtype=torch.int32)

    train_ids, val_ids = encode(train_docs), encode(val_docs)
    print(f"tokens train {len(train_ids)} val {len(val_ids)} {time.time() - t0:.0f}s", flush=True)

    # ---- model
    cfg = Qwen2Config(vocab_size=V, hidden_size=a.hidden, intermediate_size=a.intermediate,
                      num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
                      max_position_embeddings=a.seqlen, rope_theta=1e6, rms_norm_eps=1e-6,
                      tie_word_embeddings=True, bos_token_id=eos_id, eos_token_id=eos_id,
                      use_sliding_window=False)
    model = Qwen2ForCausalLM(cfg).cuda()
    # eager attention: plain matmul + softmax, deterministic (SDPA's fused backward kernels are not)
    try:
        model.set_attn_implementation("eager")
    except Exception as e:  # transformers older than 4.56 has no set_attn_implementation
        print(f"set_attn_implementation failed ({e!r}); setting config._attn_implementation", flush=True)
        model.config._attn_implementation = "eager"
    print(f"attention {model.config._attn_implementation}", flush=True)
    nparam = sum(p.numel() for p in model.parameters())
    print(f"params {nparam}", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
    T, B = a.seqlen, a.batch
    n_windows = (len(train_ids) - 1) // T
    steps_per_epoch = n_windows // B
    if steps_per_epoch < 1:
        sys.exit(f"{len(train_ids)} training tokens make {n_windows} windows of {T}: fewer than one batch of {B}")
    total_steps = int(a.max_epochs * steps_per_epoch)
    warmup = min(200, total_steps // 10)
    if len(val_ids) < T + 1:
        sys.exit(f"{len(val_ids)} validation tokens: fewer than one window of {T}; lower --seqlen")

    @torch.no_grad()
    def val_loss():
        model.eval()
        n = (len(val_ids) - 1) // T
        x = val_ids[: n * T + 1].long().cuda()
        tot, cnt = 0.0, 0
        for i in range(0, n, 16):
            j = min(n, i + 16)
            inp = torch.stack([x[k * T:(k + 1) * T] for k in range(i, j)])
            lab = torch.stack([x[k * T + 1:(k + 1) * T + 1] for k in range(i, j)])
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(input_ids=inp).logits.float()
            tot += torch.nn.functional.cross_entropy(logits.view(-1, V), lab.reshape(-1), reduction="sum").item()
            cnt += lab.numel()
        model.train()
        return tot / cnt

    log, best, best_step, best_state, bad, step = [], float("inf"), 0, None, 0, 0
    stop = "max-epochs"
    g = torch.Generator().manual_seed(a.seed)
    data = train_ids.long()
    t_train = time.time()
    done = False
    while not done:
        order = torch.randperm(n_windows, generator=g)
        for b in range(steps_per_epoch):
            idx = order[b * B:(b + 1) * B]
            x = torch.stack([data[i * T:(i + 1) * T + 1] for i in idx.tolist()]).cuda()
            for gr in opt.param_groups:
                gr["lr"] = lr_at(step, a, warmup, total_steps)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(input_ids=x[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(logits.float().view(-1, V), x[:, 1:].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if step % a.eval_every == 0 or step == total_steps:
                vl = val_loss()
                el = time.time() - t_train
                log.append(dict(step=step, epoch=round(step / steps_per_epoch, 3), train_loss=round(loss.item(), 4),
                                val_loss=round(vl, 4), lr=lr_at(step, a, warmup, total_steps), seconds=round(el, 1)))
                print(log[-1], flush=True)
                if vl < best:
                    best, best_step, bad = vl, step, 0
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                else:
                    bad += 1
                    if bad >= a.patience:
                        stop = f"patience ({a.patience} evaluation(s) without improvement)"
                        done = True
                        break
                if el > a.max_minutes * 60:
                    stop = f"max-minutes ({a.max_minutes:g})"
                    done = True
                    break
            if step >= total_steps:
                done = True
                break
    train_seconds = time.time() - t_train

    if best_state is None:
        sys.exit(f"no finite validation loss in {log}: lower --lr or check the corpus")
    model.load_state_dict(best_state)
    model = model.to(torch.bfloat16)
    model.config.torch_dtype = "bfloat16"
    shard = f"{a.shard_mb}MB" if a.shard_mb > 0 else "4GB"
    model.save_pretrained(a.out, max_shard_size=shard)
    model.generation_config.save_pretrained(a.out)
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as fh:
        json.dump({"model_max_length": a.seqlen, "eos_token": EOS, "pad_token": EOS, "bos_token": None,
                   "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False}, fh, indent=1)

    best_row = next(r for r in log if r["step"] == best_step)
    tokens_seen = best_step * B * T
    command = "python3 tools/train_tiny.py " + " ".join(shlex.quote(s) for s in argv)
    train_log = dict(command=command, args=vars(a), files=[os.path.basename(f) for f in files], params=nparam,
                     vocab=V, docs_train=len(train_docs), docs_val=len(val_docs), tokens_train=len(train_ids),
                     tokens_val=len(val_ids), steps_per_epoch=steps_per_epoch, steps_run=step, stop_reason=stop,
                     best_step=best_step,
                     tokens_seen_best=tokens_seen, best_train_loss=best_row["train_loss"], best_val_loss=best,
                     best_val_ppl=math.exp(best), train_seconds=round(train_seconds, 1),
                     total_seconds=round(time.time() - t0, 1), device=torch.cuda.get_device_name(0),
                     versions=dict(torch=torch.__version__, transformers=transformers.__version__,
                                   tokenizers=tokenizers.__version__, python=sys.version.split()[0]),
                     log=log)
    with open(os.path.join(a.out, "train_log.json"), "w") as fh:
        json.dump(train_log, fh, indent=1)
    with open(os.path.join(a.out, "MODEL_CARD.md"), "w") as fh:
        fh.write(model_card(a, train_log))
    print(f"best val loss {best:.4f} (ppl {math.exp(best):.2f}) at step {best_step}; "
          f"total {time.time() - t0:.0f}s", flush=True)
    print(sorted(os.listdir(a.out)), flush=True)


def model_card(a, L):
    head = a.hidden // a.heads
    size = "one model.safetensors" if a.shard_mb == 0 else f"shards of at most {a.shard_mb} MB + index"
    return f"""# {a.name} — a {L['params'] / 1e6:.2f} M-parameter Qwen2-architecture model

Trained from scratch by caldera4j's `tools/train_tiny.py` on one {L['device']}:

    {L['command']}

(`--corpus` is `../shared/data/train/corpus` beside the project, or any folder holding the files.)

| | |
|---|---|
| architecture | Qwen2ForCausalLM: hidden {a.hidden}, {a.layers} layers, {a.heads} heads / {a.kv_heads} KV heads (head {head}), MLP {a.intermediate} (SwiGLU), q/k/v bias, RoPE θ 1e6, RMSNorm ε 1e-6, tied embeddings, context {a.seqlen} |
| parameters | {L['params']:,} (embedding {L['vocab'] * a.hidden:,}, shared with the output head) |
| tokenizer | byte-level BPE trained on the training documents, vocab {L['vocab']:,}, Qwen2's NFC + split pattern + byte-level; `<\\|endoftext\\|>` = id 0 (eos, also used as bos); no token is added when encoding |
| weights | bf16, {size} (transformers {L['versions']['transformers']} layout: `rope_parameters.rope_theta` in config.json) |
| data | {', '.join(L['files'])} of the shared corpus (Wikipedia 2015, public-domain novels; filtered against WikiText-2 test/valid): {L['docs_train']:,} training documents, {L['tokens_train']:,} tokens |
| training | seed {a.seed}; {L['best_step']:,} steps of {a.batch} × {a.seqlen} tokens kept ({L['tokens_seen_best']:,} tokens seen, {L['best_step'] / L['steps_per_epoch']:.2f} epochs), {L['steps_run']:,} run, stopped by {L['stop_reason']}; AdamW (0.9, 0.95), lr {a.lr:g} with warm-up, cosine to {a.lr / 10:g}, wd 0.1, clip 1.0, bf16 autocast; evaluation every {a.eval_every} steps, patience {a.patience}, weights kept at the best validation loss |
| final loss | train {L['best_train_loss']:.4f} (last batch before the kept evaluation), validation {L['best_val_loss']:.4f} (perplexity {L['best_val_ppl']:.2f}) |
| validation | {L['docs_val']} held-out corpus documents, {L['tokens_val']:,} tokens, windows of {a.seqlen} |
| time | {L['train_seconds']:.0f} s training, {L['total_seconds']:.0f} s in all (corpus, tokenizer, training, saving) |
| software | torch {L['versions']['torch']}, transformers {L['versions']['transformers']}, tokenizers {L['versions']['tokenizers']} |

The full log (every evaluation) is in `train_log.json`.

## Reproducing standin-small

`../shared/data/models/standin-small` was made by the steering team's
`shared/tools/train-standin/train.py` with the same recipe; this script reproduces that recipe
(same document split, tokenizer trainer, schedule, stopping rule) with

    python3 tools/train_tiny.py --corpus ../shared/data/train/corpus --files all --out OUT \\
        --name standin-small --vocab 8192 --hidden 512 --layers 8 --heads 8 --kv-heads 2 \\
        --intermediate 1536 --seqlen 2048 --batch 32 --lr 1e-3 --max-epochs 8 --max-minutes 5 \\
        --eval-every 100 --patience 1 --shard-mb 15 --seed 0

It is not bit-identical to the published weights: this script uses eager attention and
torch's deterministic algorithms, the original used the default (SDPA) attention.
"""


if __name__ == "__main__":
    main(sys.argv[1:])
