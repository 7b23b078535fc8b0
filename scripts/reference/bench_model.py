#!/usr/bin/env python3
"""Forward+backward speed and peak memory, cotrain vs transformers, in one run.

Both run the same work in their own process: a Qwen2.5-0.5B-shaped model (hidden 896, 14/2
heads, intermediate 4864, vocab 151936, tied; --layers of the 24), random fp32 weights, one
row of --seq-len tokens, loss = mean next-token NLL, backward; one warm-up step then --steps
timed steps, the same thread count. Peak RSS is the process's ru_maxrss from wait4, measured
identically for both. The two alternate --repeat times (run-to-run noise on a shared machine is
about 10%); the table shows medians and the ratios are of the medians.

With --checkpointing both also run with per-layer activation checkpointing (cotrain's
model->activation_checkpointing, transformers' gradient_checkpointing_enable()), to measure what
recomputation saves in peak memory and costs in time.

  cmake --build build --target bench_model_step
  python3 scripts/reference/bench_model.py [--layers 4] [--seq-len 2048] [--steps 3] [--threads N] [--repeat 3]
                                           [--checkpointing]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

PEER = r"""
import json, sys, time, torch
from transformers import AutoModelForCausalLM, Qwen2Config
layers, seq_len, steps, threads, checkpointing = map(int, sys.argv[1:6])
torch.set_num_threads(threads)
config = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=layers,
                     num_attention_heads=14, num_key_value_heads=2, rope_theta=1e6, tie_word_embeddings=True)
model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).train()
if checkpointing:
    model.gradient_checkpointing_enable()
ids = torch.randint(0, 151643, (1, seq_len))
times = []
for step in range(steps + 1):
    start = time.perf_counter()
    model.zero_grad()
    model(input_ids=ids, labels=ids).loss.backward()
    if step:
        times.append(time.perf_counter() - start)
print(json.dumps({"impl": "transformers", "tokens_per_s": seq_len * steps / sum(times), "step_s": sum(times) / steps}))
"""


def run(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--checkpointing", action="store_true", help="also run both with activation checkpointing")
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "../../build/benchmarks/bench_model_step"))
    args = ap.parse_args()
    a = [str(args.layers), str(args.seq_len), str(args.steps), str(args.threads)]
    modes = ["0", "1"] if args.checkpointing else ["0"]
    label = {"0": "", "1": "+ckpt"}
    runs = {f"{impl}{label[m]}": [] for m in modes for impl in ("cotrain", "transformers")}
    for _ in range(args.repeat):
        for m in modes:
            runs[f"cotrain{label[m]}"].append(run([args.binary] + a + [m]))
            runs[f"transformers{label[m]}"].append(run([sys.executable, "-c", PEER] + a + [m]))
    median = {impl: {key: statistics.median(r[key] for r in rs) for key in ("tokens_per_s", "step_s", "peak_rss_mib")}
              for impl, rs in runs.items()}
    for impl, rs in runs.items():
        m = median[impl]
        each = ", ".join(f"{r['tokens_per_s']:.1f}" for r in rs)
        print(f"{impl:<18} {m['tokens_per_s']:8.1f} tokens/s ({each})  {m['step_s']:7.2f} s/step  "
              f"peak RSS {m['peak_rss_mib']:8.0f} MiB")
    for m in modes:
        mine, peer = median[f"cotrain{label[m]}"], median[f"transformers{label[m]}"]
        print(f"ratio cotrain/transformers{label[m]}: speed {mine['tokens_per_s'] / peer['tokens_per_s']:.2f}x, "
              f"peak RSS {mine['peak_rss_mib'] / peer['peak_rss_mib']:.2f}x")
    if args.checkpointing:
        for impl in ("cotrain", "transformers"):
            on, off = median[f"{impl}+ckpt"], median[impl]
            print(f"{impl} checkpointing on/off: speed {on['tokens_per_s'] / off['tokens_per_s']:.2f}x, "
                  f"peak RSS {on['peak_rss_mib'] / off['peak_rss_mib']:.2f}x")


if __name__ == "__main__":
    main()
