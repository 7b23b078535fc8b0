#!/usr/bin/env python3
"""Benchmark for `cotrain data prepare` against Hugging Face in the same run.

Writes --n synthetic traces shaped like Sky-T1's 17k (ShareGPT JSONL, the Sky-T1 markers,
blank-line separated steps; lengths drawn from a log-normal with a mean near 5k tokens and a tail
clipped at 16k) whose words come from the math benchmarks in shared/, then times
  cotrain:  cotrain data prepare --data traces.jsonl --tokenizer <qwen2.5> --out cache --threads T
  peer:     transformers apply_chat_template(tokenize=False) on every conversation, then the fast
            tokenizer on all texts in one batch (Rust, parallel) -- ids only, no loss mask
and checks that the cache holds exactly the peer's ids for every sample. Prints one JSON object.

  python3 scripts/reference/data_prepare_bench.py --cotrain build/cotrain --out /tmp/prep-bench
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("COTRAIN_SHARED") or Path(__file__).resolve().parents[2] / ".." / "shared")
CHARS_PER_TOKEN = 2.6  # measured on these words with the Qwen2.5 tokenizer; the real lengths are reported


def vocabulary():
    words = []
    for path in sorted((SHARED / "benchmarks").glob("*/test.jsonl")):
        for line in path.open():
            row = json.loads(line)
            for field in ("problem", "solution", "question", "answer"):
                if isinstance(row.get(field), str):
                    words += re.findall(r"\S+", row[field])
    return words


def make_traces(n, seed):
    rng = np.random.default_rng(seed)
    words = np.array(vocabulary(), dtype=object)
    reflections = ["Wait,", "Hmm,", "But", "Alternatively,", "However,", "Let me double-check:", "Let me verify"]
    # Token lengths: log-normal, median ~3.9k, mean ~5k, clipped to [300, 16000].
    tokens = np.clip(rng.lognormal(mean=np.log(3900), sigma=0.7, size=n), 300, 16000)
    traces = []
    for i in range(n):
        n_words = int(tokens[i] * CHARS_PER_TOKEN / 6.0)
        picked = words[rng.integers(0, len(words), size=n_words)]
        steps, pos = [], 0
        while pos < n_words:
            size = int(rng.integers(20, 120))
            step = " ".join(picked[pos:pos + size])
            if rng.random() < 0.3:
                step = reflections[int(rng.integers(0, len(reflections)))] + " " + step
            steps.append(step)
            pos += size
        problem = " ".join(words[rng.integers(0, len(words), size=40)])
        response = ("<|begin_of_thought|>\n\n" + "\n\n".join(steps) + "\n\n<|end_of_thought|>\n\n"
                    "<|begin_of_solution|>\n\n" + steps[-1] + "\n\n\\boxed{" + str(i) + "}\n\n<|end_of_solution|>")
        traces.append({"system": "Your role as an assistant involves thoroughly exploring questions through a "
                                 "systematic long thinking process before providing the final precise and accurate "
                                 "solutions.",
                       "conversations": [{"from": "user", "value": "Return your final response within \\boxed{}. " + problem},
                                         {"from": "assistant", "value": response}]})
    return traces


def to_messages(trace):
    roles = {"user": "user", "assistant": "assistant"}
    return [{"role": "system", "content": trace["system"]}] + [
        {"role": roles[t["from"]], "content": t["value"]} for t in trace["conversations"]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cotrain", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=17000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok_dir = SHARED / "tokenizers" / "qwen2.5"

    traces_path = out / "traces.jsonl"
    with traces_path.open("w") as f:
        for trace in make_traces(args.n, args.seed):
            f.write(json.dumps(trace, ensure_ascii=False) + "\n")
    mb = traces_path.stat().st_size / 1e6

    cache = out / "cache"
    command = [args.cotrain, "data", "prepare", "--data", str(traces_path), "--tokenizer", str(tok_dir / "tokenizer.json"),
               "--out", str(cache), "--threads", str(args.threads), "--cutoff", "0", "--force"]  # time a real build, not a reuse
    start = time.perf_counter()
    subprocess.run(command, check=True)
    cotrain_s = time.perf_counter() - start

    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    from transformers import AutoTokenizer
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    with traces_path.open() as f:
        conversations = [to_messages(json.loads(line)) for line in f]
    texts = [tokenizer.apply_chat_template(c, tokenize=False) for c in conversations]
    template_s = time.perf_counter() - start
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    peer_s = time.perf_counter() - start

    offsets = np.fromfile(cache / "offsets.bin", dtype="<i8")
    cache_ids = np.fromfile(cache / "ids.bin", dtype="<i4")
    lengths = np.diff(offsets)
    mismatches = sum(1 for i, want in enumerate(ids)
                     if lengths[i] != len(want) or not np.array_equal(cache_ids[offsets[i]:offsets[i + 1]], want))
    result = {
        "traces": args.n, "input_mb": round(mb, 1), "threads": args.threads,
        "tokens": int(offsets[-1]), "mean_tokens": round(float(lengths.mean()), 1),
        "p99_tokens": int(np.percentile(lengths, 99)), "max_tokens": int(lengths.max()),
        "cotrain_s": round(cotrain_s, 2), "cotrain_mb_s": round(mb / cotrain_s, 2),
        "hf_s": round(peer_s, 2), "hf_load_and_template_s": round(template_s, 2), "hf_mb_s": round(mb / peer_s, 2),
        "speedup": round(peer_s / cotrain_s, 2), "samples_with_different_ids": mismatches,
        "command": " ".join(command),
    }
    print(json.dumps(result, indent=2))
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
