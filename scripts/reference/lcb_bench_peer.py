#!/usr/bin/env python3
"""Peer for the LiveCodeBench judging throughput benchmark: the same judging harness cotrain runs
(taken from src/eval/code/judge_harness.cpp), the same interpreter and the same samples, but as
plain subprocesses with no sandbox, N at a time. cotrain / this = the cost of the sandbox.
Usage: lcb_bench_peer.py --data DIR [--jobs 2] [--python python3]
(DIR from lcb_bench_data.py; every sample must pass, as there.)
"""
import argparse
import base64
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def harness_source():
    with open(os.path.join(ROOT, "src/eval/code/judge_harness.cpp")) as f:
        return re.search(r'R"PY\((.*)\)PY"', f.read(), re.S).group(1)


def samples(data_dir):
    with open(os.path.join(data_dir, "predictions.jsonl")) as f:
        responses = {p["question_id"]: p["response"] for p in map(json.loads, f)}
    with open(os.path.join(data_dir, "problems.jsonl")) as f:
        for row in map(json.loads, f):
            tests = json.loads(row["public_test_cases"]) + json.loads(
                pickle.loads(zlib.decompress(base64.b64decode(row["private_test_cases"]))))
            code = responses[row["question_id"]].split("```python\n")[1].split("```")[0]
            yield code, {"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests],
                         "fn_name": None}


def judge(python, harness, code, tests):
    with tempfile.TemporaryDirectory() as d:
        for name, text in (("harness.py", harness), ("solution.py", code), ("tests.json", json.dumps(tests))):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        out = subprocess.run([python, "-s", os.path.join(d, "harness.py"), "6"], cwd=d, capture_output=True,
                             env={"PATH": os.environ["PATH"], "PYTHONHASHSEED": "0"}, text=True).stdout
        return json.loads(out.strip().split("\n")[-1])["verdict"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    harness = harness_source()
    work = list(samples(args.data))
    start = time.time()
    with ThreadPoolExecutor(args.jobs) as pool:
        verdicts = list(pool.map(lambda s: judge(args.python, harness, *s), work))
    seconds = time.time() - start
    assert all(v == "passed" for v in verdicts), verdicts
    print("peer (no sandbox): %d samples in %.2f s, %.1f samples/s" % (len(work), seconds, len(work) / seconds))


if __name__ == "__main__":
    main()
