#!/usr/bin/env python3
"""Data for the LiveCodeBench judging throughput benchmark (docs/performance.md): N stdin
problems in the code_generation_lite format (one public test, three private tests compressed as
LiveCodeBench ships them) and one trivial correct response per problem.
Usage: lcb_bench_data.py --out DIR [--problems N]
"""
import argparse
import base64
import json
import os
import pickle
import zlib


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--problems", type=int, default=200)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "problems.jsonl"), "w") as data, \
            open(os.path.join(args.out, "predictions.jsonl"), "w") as preds:
        for i in range(args.problems):
            tests = [{"input": "%d %d\n" % (i, k), "output": "%d\n" % (i + k), "testtype": "stdin"} for k in range(4)]
            private = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests[1:])))).decode()
            data.write(json.dumps({
                "question_title": "add %d" % i, "question_content": "Print a + b.", "platform": "atcoder",
                "question_id": "bench_%d" % i, "contest_id": "bench", "contest_date": "2024-01-01T00:00:00",
                "starter_code": "", "difficulty": ["easy", "medium", "hard"][i % 3],
                "public_test_cases": json.dumps(tests[:1]), "private_test_cases": private,
                "metadata": "{}"}) + "\n")
            preds.write(json.dumps({"question_id": "bench_%d" % i,
                                    "response": "```python\na, b = map(int, input().split())\nprint(a + b)\n```"}) + "\n")


if __name__ == "__main__":
    main()
