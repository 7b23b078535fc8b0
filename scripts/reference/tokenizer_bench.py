#!/usr/bin/env python3
"""Tokenizer speed: cotrain vs Hugging Face `tokenizers` on the same corpus, in one run.

Usage: python3 scripts/reference/tokenizer_bench.py --cotrain build/cotrain [--tokenizer qwen2.5] [--repeat 3]

The corpus is the parity corpus of tokenizer_ids.py (~5.5 MB; invalid UTF-8 decoded with
"replace" so it fits in JSON). For each side it measures, best of --repeat:
  load       loading tokenizer.json (cotrain: a whole `cotrain tokenize` run on one short line)
  1 thread   load + encode of the whole corpus on one thread
  N threads  the same on all cores
cotrain is timed as a whole process (reading JSONL, writing ids); HF as load + encode_batch inside
an already started Python (so HF's numbers leave out interpreter start and file I/O). CPU seconds
(user + system) are printed too: on a busy machine they are steadier than wall time. The ids are
compared, so a fast wrong answer cannot pass. Prints a Markdown table for docs/performance.md.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tokenizer_ids import NAMES, SHARED, corpus  # noqa: E402

HF_WORKER = r"""
import json, sys, time
start, cpu_start = time.perf_counter(), time.process_time()
import tokenizers
tok = tokenizers.Tokenizer.from_file(sys.argv[1])
loaded, cpu_loaded = time.perf_counter(), time.process_time()
texts = [json.loads(line)["text"] for line in open(sys.argv[2], encoding="utf-8")]
encode_start, cpu_encode_start = time.perf_counter(), time.process_time()
ids = [e.ids for e in tok.encode_batch(texts)]
end, cpu_end = time.perf_counter(), time.process_time()
json.dump({"load": loaded - start, "load_cpu": cpu_loaded - cpu_start, "encode": end - encode_start,
           "cpu": cpu_loaded - cpu_start + cpu_end - cpu_encode_start, "ids": ids}, open(sys.argv[3], "w"))
"""


def hf_run(tokenizer_json, corpus_file, threads, work):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    out = work / "hf.json"
    subprocess.run([sys.executable, "-c", HF_WORKER, str(tokenizer_json), str(corpus_file), str(out)], env=env, check=True)
    return json.loads(out.read_text())


def cotrain_run(binary, tokenizer_json, corpus_file, threads, work):
    out = work / "cotrain.jsonl"
    start = time.perf_counter()
    process = subprocess.Popen([binary, "tokenize", "--tokenizer", str(tokenizer_json), "--input", str(corpus_file),
                                "--out", str(out), "--threads", str(threads)])
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"cotrain tokenize failed ({status})")
    return seconds, usage.ru_utime + usage.ru_stime, [json.loads(line)["ids"] for line in out.read_text().splitlines()]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cotrain", required=True, help="the cotrain binary")
    parser.add_argument("--tokenizer", default="qwen2.5", choices=NAMES)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tokenizer_json = SHARED / "tokenizers" / args.tokenizer / "tokenizer.json"
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        added = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"]
        docs, _ = corpus(added)
        corpus_file = work / "corpus.jsonl"
        with open(corpus_file, "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({"text": d.decode("utf-8", "replace")}, ensure_ascii=False) + "\n")
        one_line = work / "one.jsonl"
        one_line.write_text('{"text": "hello"}\n')
        mb = corpus_file.stat().st_size / 1e6

        rows = {}
        for threads in (1, cores):
            hf = [hf_run(tokenizer_json, corpus_file, threads, work) for _ in range(args.repeat)]
            ours = [cotrain_run(args.cotrain, tokenizer_json, corpus_file, threads, work) for _ in range(args.repeat)]
            if ours[0][2] != hf[0]["ids"]:
                sys.exit("cotrain ids differ from HF ids: benchmark invalid")
            rows[threads] = dict(hf=min(r["load"] + r["encode"] for r in hf), hf_cpu=min(r["cpu"] for r in hf),
                                 hf_load=min(r["load"] for r in hf), hf_load_cpu=min(r["load_cpu"] for r in hf),
                                 ours=min(o[0] for o in ours),
                                 ours_cpu=min(o[1] for o in ours))
        loads = [cotrain_run(args.cotrain, tokenizer_json, one_line, 1, work) for _ in range(args.repeat)]
        ours_load, ours_load_cpu = min(o[0] for o in loads), min(o[1] for o in loads)

    print(f"corpus: {len(docs)} documents, {mb:.1f} MB JSONL; tokenizer {args.tokenizer}; {cores} cores; best of {args.repeat}\n")
    print("| measurement | HF tokenizers wall s (CPU s) | cotrain wall s (CPU s) | speed-up, wall (HF / cotrain) |")
    print("|---|---|---|---|")
    print(f"| load tokenizer.json | {rows[1]['hf_load']:.2f} ({rows[1]['hf_load_cpu']:.2f}), incl. import | "
          f"{ours_load:.2f} ({ours_load_cpu:.2f}), whole process | "
          f"{rows[1]['hf_load'] / ours_load:.2f}x |")
    for threads in (1, cores):
        r = rows[threads]
        label = "1 thread" if threads == 1 else f"{threads} threads"
        print(f"| load + encode, {label} | {r['hf']:.2f} ({r['hf_cpu']:.2f}) | {r['ours']:.2f} ({r['ours_cpu']:.2f}) | "
              f"{r['hf'] / r['ours']:.2f}x ({mb / r['hf']:.1f} vs {mb / r['ours']:.1f} MB/s) |")


if __name__ == "__main__":
    main()
