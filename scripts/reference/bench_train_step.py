#!/usr/bin/env python3
"""Whole bf16 training steps, cotrain's bench_train_step against transformers (+ peft for LoRA), in
one run: speed, peak memory, and both against the machine's bf16 matmul peak of the same run.

The work is the same for both, each in its own process with the same threads: a Qwen2.5-0.5B-
shaped model (hidden 896, 14/2 heads, intermediate 4864, vocab 151936, tied; --layers of the 24),
random weights, one row of --tokens token ids (one document), mean next-token NLL, backward,
gradient clipping, a fused AdamW step; --steps timed steps after one warm-up, the best step kept.

- cotrain (benchmarks/train_step.cpp): bf16 weights and activations, fp32 master weights and
  moments (ShardedModel), the fused chunked loss; LoRA: rank --rank on every decoder linear.
- transformers, as its Trainer runs with `bf16=True` (what LLaMA-Factory and TRL do underneath):
  full SFT keeps fp32 weights and runs the forward under torch.autocast(bfloat16), so the matmuls
  are bf16 and the weights, gradients and AdamW moments fp32, like cotrain's masters; LoRA loads the
  base in bf16 and get_peft_model upcasts the adapters to fp32. Fused torch AdamW.

--checkpointing 1 turns on per-layer activation checkpointing in both (transformers'
gradient_checkpointing_enable); the FLOPs counted are the useful ones (no recomputation), so the
fraction of peak is what the step achieved of the machine, not what the kernels ran at.

Peak RSS is each process's ru_maxrss from wait4, measured the same way for both. Each process runs
under an address-space limit (--mem-limit-gib) so one that would exhaust memory fails with an
allocation error (reported as such) instead of waking the kernel's OOM killer.

--device cuda runs both on the GPU (scripts/gpu_check.sh): the clock readings wait for the GPU's
queue, the memory compared is the peak of each process's tensors on the device (cotrain's caching
allocator statistics, torch.cuda.max_memory_allocated), and no address-space limit is set.

  cmake --build build --target bench_train_step
  python3 scripts/reference/bench_train_step.py --mode sft|lora [--tokens 2048] [--layers 24] [--steps 2]
      [--threads 2] [--checkpointing 0|1] [--repeat 1] [--device cpu|cuda]
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train import run_measured  # noqa: E402

PEER = r"""
import json, sys, time, torch
from transformers import AutoModelForCausalLM, Qwen2Config
mode, layers, tokens, steps, threads, checkpointing, rank = sys.argv[1], *map(int, sys.argv[2:8])
device = sys.argv[8]
torch.set_num_threads(threads)
config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=layers,
                     num_attention_heads=14, num_key_value_heads=2, rope_theta=1e6, tie_word_embeddings=True,
                     max_position_embeddings=32768)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(config, dtype=torch.float32 if mode == "sft" else torch.bfloat16)
if checkpointing:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
if mode == "lora":
    from peft import LoraConfig, get_peft_model
    if checkpointing:
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
model.to(device).train()
params = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW(params, lr=1e-5, fused=True)
ids = torch.tensor([[(t * 7919) % 151643 for t in range(tokens)]], device=device)
sync = torch.cuda.synchronize if device == "cuda" else lambda: None  # a GPU's clock readings wait for its queue
times = []
for step in range(steps + 1):
    sync()
    start = time.perf_counter()
    with torch.autocast(device, dtype=torch.bfloat16):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    sync()
    if step:
        times.append(time.perf_counter() - start)
result = {"impl": "transformers", "step_s": min(times), "tokens_per_s": tokens / min(times)}
if device == "cuda":
    result["peak_device_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
print(json.dumps(result))
"""


def measured(cmd, gib, name):
    code, out, err, rss = run_measured(cmd, gib)
    if code != 0:
        last = (err.strip().splitlines() or ["?"])[-1]
        print(f"{name} failed (exit {code}): {last}", file=sys.stderr)
        return {"failed": last, "peak_rss_mib": rss}
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = rss
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["sft", "lora"], default="sft")
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--checkpointing", type=int, choices=[0, 1], default=0)
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--mem-limit-gib", type=float, default=20)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "../../build/benchmarks/bench_train_step"))
    args = ap.parse_args()

    shared = [str(args.layers), str(args.tokens), str(args.steps), str(args.threads), str(args.checkpointing), str(args.rank), args.device]
    ours_cmd = [args.binary, "--mode", args.mode, "--dtype", "bf16", "--tokens", str(args.tokens), "--layers", str(args.layers),
                "--steps", str(args.steps), "--threads", str(args.threads), "--checkpointing", str(args.checkpointing),
                "--rank", str(args.rank), "--device", args.device]
    peer_cmd = [sys.executable, "-c", PEER, args.mode, *shared]
    gib = args.mem_limit_gib if args.device == "cpu" else None
    ours, peer = [], []
    for _ in range(args.repeat):  # alternating, so drift on a shared machine hits both
        ours.append(measured(ours_cmd, gib, "cotrain"))
        peer.append(measured(peer_cmd, gib, "transformers"))
        print(json.dumps({"cotrain": ours[-1], "transformers": peer[-1]}), flush=True)

    def median(runs, key):
        values = [r[key] for r in runs if key in r]
        return statistics.median(values) if values else None

    o_tps, p_tps = median(ours, "tokens_per_s"), median(peer, "tokens_per_s")
    memory = "peak_rss_mib" if args.device == "cpu" else "peak_device_memory_mib"  # a GPU's: its tensors'
    o_rss, p_rss = median(ours, memory), median(peer, memory)
    flop = median(ours, "step_tflop")
    peak = median(ours, "matmul_peak_gflops")
    label = f"{args.mode} on {args.device}, {args.layers} layers, {args.tokens} tokens, checkpointing {'on' if args.checkpointing else 'off'}"
    print(f"\n{label}: bf16 matmul peak (same run) {peak:.0f} GFLOP/s\n")
    print(f"| | s/step | tokens/s | useful GFLOP/s | fraction of peak | {'peak RSS' if args.device == 'cpu' else 'peak device memory'} |")
    print("|---|---|---|---|---|---|")
    peer_name = "transformers" + (" + peft" if args.mode == "lora" else "")
    for name, runs, tps, rss in (("cotrain", ours, o_tps, o_rss), (peer_name, peer, p_tps, p_rss)):
        if tps is None:
            print(f"| {name} | failed: {runs[0].get('failed')} | | | | {'' if rss is None else f'{rss:,.0f} MiB'} |")
            continue
        gflops = flop * 1e3 * tps / args.tokens
        print(f"| {name} | {args.tokens / tps:.2f} | {tps:.1f} | {gflops:.0f} | {gflops / peak:.3f} | {rss:,.0f} MiB |")
    if o_tps and p_tps:
        print(f"| ratio cotrain / peer | | **{o_tps / p_tps:.2f}x** | | | **{o_rss / p_rss:.2f}x** |")


if __name__ == "__main__":
    main()
