#!/usr/bin/env python3
"""Generation speed, cotrain against transformers, in the same run (docs/performance.md).

  bench_generate.py --cotrain build/cotrain --model ~/.cache/cotrain/models/qwen2.5-coder-0.5b-instruct \
      [--batch 1 8] [--dtype float32 bfloat16] [--new-tokens 64] [--repeats 3] [--threads 2]

Greedy decoding of the same chat prompts (long answers, so every sample runs to --new-tokens) at
each batch size and dtype. cotrain: `cotrain generate` with --batch-size B on B prompts, its own
report of new tokens per second of generation (model loading excluded). transformers:
generate(do_sample=False, min_new_tokens=max_new_tokens) on the same B prompts, left-padded, timed
around generate() alone. The two alternate, repeats times; medians and the ratio are printed.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TOPICS = ["the history of the printing press", "how vaccines train the immune system", "why the sky is blue",
          "how a compiler turns source code into machine code", "the water cycle", "how bridges carry loads",
          "the rules of chess", "how photosynthesis stores energy"]


def prompts(count):
    return [f"Write a detailed essay of at least 300 words about {TOPICS[i % len(TOPICS)]}." for i in range(count)]


def run_cotrain(args, batch, dtype, workdir):
    path = os.path.join(workdir, f"p{batch}.jsonl")
    with open(path, "w") as f:
        for p in prompts(batch):
            f.write(json.dumps({"prompt": p}) + "\n")
    out = os.path.join(workdir, f"out-{batch}-{dtype}-{time.time_ns()}.jsonl")
    result = subprocess.run([args.cotrain, "generate", "--model", args.model, "--input", path, "--out", out,
                             "--max-new-tokens", str(args.new_tokens), "--batch-size", str(batch), "--dtype", dtype,
                             "--threads", str(args.threads)], capture_output=True, text=True, check=True)
    match = re.search(r"(\d+) new tokens in ([\d.]+) s", result.stderr)
    tokens, seconds = int(match.group(1)), float(match.group(2))
    return tokens / seconds, tokens


def run_transformers(model, tokenizer, batch, new_tokens):
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
             for p in prompts(batch)]
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    seconds = time.perf_counter() - start
    tokens = (out.shape[1] - inputs["input_ids"].shape[1]) * batch
    return tokens / seconds, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cotrain", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.padding_side = "left"
    print(f"load average before: {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for dtype in args.dtype:
            model = AutoModelForCausalLM.from_pretrained(args.model, dtype=getattr(torch, dtype)).eval()
            for batch in args.batch:
                ours, theirs = [], []
                run_transformers(model, tokenizer, batch, 4)  # warm-up
                for _ in range(args.repeats):
                    ours.append(run_cotrain(args, batch, dtype, workdir)[0])
                    theirs.append(run_transformers(model, tokenizer, batch, args.new_tokens)[0])
                a, b = statistics.median(ours), statistics.median(theirs)
                rows.append((dtype, batch, a, b))
                print(f"{dtype:9} batch {batch}: cotrain {a:7.1f} tok/s  transformers {b:7.1f} tok/s  ratio {a / b:.2f}x"
                      f"   (runs: {[round(x, 1) for x in ours]} vs {[round(x, 1) for x in theirs]})", flush=True)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
