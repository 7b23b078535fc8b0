#!/usr/bin/env python3
"""LoRA training speed and peak memory: `cotrain lora` against transformers + peft as users run it,
in one run, on the same model, documents, order and settings.

Model: Qwen2.5-0.5B's shape (hidden 896, 14/2 heads, intermediate 4864, vocab 151936, tied) cut to
--layers layers, random bf16 weights. Documents: a long-tail length mix like the Sky-T1 17k (most
short, a few long; --lengths), random ids, the first quarter of each a prompt (mask 0). LoRA rank
--rank on every decoder linear, bf16 base with fp32 adapters, AdamW, clipping, activation
(gradient) checkpointing on, one epoch, --global-batch documents per optimizer step.

The peer is a plain loop over transformers 5 + peft as the Trainer runs it (what LLaMA-Factory and
TRL do underneath): model loaded in bf16, get_peft_model (adapters upcast to fp32),
gradient_checkpointing_enable + enable_input_require_grads, micro-batches of --peer-micro-batch
documents right-padded to the longest, model(input_ids, attention_mask, labels).loss backward,
clip_grad_norm_, AdamW step. cotrain runs the same documents in the same order with micro_batch
1 (one document per forward pass; cotrain never pads).

Useful tokens/s = document tokens (no padding) / seconds of the training loop (loading excluded);
peak RSS = ru_maxrss of the process from wait4, the same for both. Each process runs under an
address-space limit (--mem-limit-gib) so an implementation that would exhaust memory fails with
an allocation error instead of waking the kernel's OOM killer on a shared machine.

  python3 scripts/reference/bench_train.py [--layers 2] [--rank 64] [--lengths 256x8,...] [--repeat 1]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PEER = r"""
import json, math, os, sys, time, torch
sys.path.insert(0, sys.argv[1])
from train_reference import epoch_order, padded_batch
from transformers import AutoModelForCausalLM
from peft import LoraConfig, get_peft_model
work, micro, global_batch, rank, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
docs = json.load(open(os.path.join(work, "docs.json")))
model = AutoModelForCausalLM.from_pretrained(os.path.join(work, "model"), dtype=torch.bfloat16)
model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
model.enable_input_require_grads()
model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"))
model.train()
params = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW(params, lr=1e-4)
order = epoch_order(len(docs), 0, 0)
tokens = 0
start = time.perf_counter()
for s in range(0, len(order), global_batch):
    step = [docs[i] for i in order[s:s + global_batch]]
    targets = sum(sum(m[1:]) for _, m in step)
    for b in range(0, len(step), micro):
        batch = step[b:b + micro]
        ids, attention, labels = padded_batch(batch)
        tokens += sum(len(d) for d, _ in batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, attention_mask=attention, labels=labels).loss
        (loss * int((labels[:, 1:] != -100).sum()) / targets).backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - start}))
"""


def limit_memory(gib):
    """An address-space limit of GIB for a child process; none for None (CUDA reserves far more
    address space than it uses, so a GPU run cannot take one)."""
    def apply():
        if gib is None:
            return
        limit = int(gib * 1024 ** 3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def run_measured(cmd, gib):
    """Runs CMD, returning (exit code, stdout, stderr, peak RSS MiB) with its own ru_maxrss."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit_memory(gib))
    out_chunks, err_chunks = [], []
    t1 = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()))
    t2 = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()))
    t1.start(); t2.start()
    _, status, usage = os.wait4(proc.pid, 0)
    t1.join(); t2.join()
    return os.waitstatus_to_exitcode(status), "".join(out_chunks), "".join(err_chunks), usage.ru_maxrss / 1024


def prepare(work, layers, lengths, seed):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config
    from train_reference import write_cache
    config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=layers,
                         num_attention_heads=14, num_key_value_heads=2, rope_theta=1e6, tie_word_embeddings=True,
                         max_position_embeddings=32768)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(os.path.join(work, "model"), safe_serialization=True)
    g = torch.Generator().manual_seed(seed)
    docs = []
    for n in lengths:
        ids = torch.randint(0, 151643, (n,), generator=g).tolist()
        docs.append((ids, [0] * (n // 4) + [1] * (n - n // 4)))
    cutoff = max(lengths)
    write_cache(os.path.join(work, "cache"), docs, cutoff)
    json.dump(docs, open(os.path.join(work, "docs.json"), "w"))
    return cutoff


def parse_lengths(spec):
    out = []
    for part in spec.split(","):
        n, _, count = part.partition("x")
        out += [int(n)] * int(count or 1)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--lengths", default="300x10,600x6,1200x4,2500x2,8000x1,14000x1",
                    help="document lengths, LENxCOUNT,... (default: most short, two of 8-16k)")
    ap.add_argument("--global-batch", type=int, default=8)
    ap.add_argument("--peer-micro-batch", default="1,4", help="transformers micro-batch sizes to run (padded)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--mem-limit-gib", type=float, default=16)
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "../../build/cotrain"))
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    lengths = parse_lengths(args.lengths)
    work = args.work or tempfile.mkdtemp(prefix="cotrain-bench-train-")
    cutoff = prepare(work, args.layers, lengths, 0)
    print(f"{len(lengths)} documents, {sum(lengths)} tokens (longest {max(lengths)}); {args.layers} layers; work dir {work}")
    results = {}
    here = os.path.dirname(os.path.abspath(__file__))
    for _ in range(args.repeat):
        run_dir = os.path.join(work, f"run-{time.time_ns()}")
        cmd = [args.binary, "--log-level", "warn", "lora", "--model", os.path.join(work, "model"), "--data", os.path.join(work, "cache"),
               "--out", run_dir, "--rank", str(args.rank), "--set", "model.dtype=bf16", "--set", "model.device=cpu",
               "--set", f"data.cutoff={cutoff}", "--set", "data.template=none", "--set", "train.epochs=1",
               "--set", f"train.global_batch={args.global_batch}", "--set", "train.micro_batch=1", "--set", "train.seed=0",
               "--set", "train.warmup_ratio=0", "--set", "train.activation_checkpointing=true"]
        code, out, err, rss = run_measured(cmd, args.mem_limit_gib)
        if code != 0:
            results.setdefault("cotrain", []).append({"error": err.strip().splitlines()[-1] if err.strip() else f"exit {code}", "rss": rss})
        else:
            steps = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl")) if '"loss"' in l]
            tokens = sum(s["tokens"] for s in steps)
            seconds = sum(s["tokens"] / s["tokens_per_s"] for s in steps)
            results.setdefault("cotrain", []).append({"tokens_per_s": tokens / seconds, "rss": rss})
        for micro in [int(m) for m in args.peer_micro_batch.split(",")]:
            cmd = [sys.executable, "-c", PEER, here, work, str(micro), str(args.global_batch), str(args.rank), str(args.threads)]
            code, out, err, rss = run_measured(cmd, args.mem_limit_gib)
            key = f"transformers+peft micro-batch {micro}"
            if code != 0:
                last = err.strip().splitlines()[-1] if err.strip() else f"exit {code}"
                results.setdefault(key, []).append({"error": last[:200], "rss": rss})
            else:
                r = json.loads(out.strip().splitlines()[-1])
                results.setdefault(key, []).append({"tokens_per_s": r["tokens"] / r["seconds"], "rss": rss})
    mine = results["cotrain"]
    for name, runs in results.items():
        ok = [r for r in runs if "tokens_per_s" in r]
        if not ok:
            print(f"{name:<36} failed: {runs[0]['error']} (peak RSS {runs[0]['rss']:.0f} MiB)")
            continue
        tps, rss = statistics.median(r["tokens_per_s"] for r in ok), statistics.median(r["rss"] for r in ok)
        line = f"{name:<36} {tps:9.1f} useful tokens/s  peak RSS {rss:8.0f} MiB"
        mine_ok = [r for r in mine if "tokens_per_s" in r]
        if name != "cotrain" and mine_ok:
            line += (f"   cotrain/peer: speed {statistics.median(r['tokens_per_s'] for r in mine_ok) / tps:.2f}x, "
                     f"memory {statistics.median(r['rss'] for r in mine_ok) / rss:.2f}x")
        print(line)
    # cotrain inspect's estimate for the longest document against cotrain's measured peak.
    mine_ok = [r for r in mine if "tokens_per_s" in r]
    inspect = subprocess.run([args.binary, "inspect", "--model", os.path.join(work, "model"), "--json", "--seq-len", str(max(lengths)),
                              "--lora-rank", str(args.rank)], capture_output=True, text=True, check=True)
    estimate = json.loads(inspect.stdout)["memory"]["lora"]["total_bytes"] / 2 ** 20
    if mine_ok:
        rss = statistics.median(r["rss"] for r in mine_ok)
        print(f"cotrain inspect estimate at seq-len {max(lengths)}: {estimate:.0f} MiB; measured peak RSS {rss:.0f} MiB "
              f"(estimate / measured {estimate / rss:.2f})")


if __name__ == "__main__":
    main()
