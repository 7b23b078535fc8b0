#!/usr/bin/env python3
"""LiveCodeBench-format fixtures for tests/unit/eval/code and tests/e2e/eval_code_test.sh.

Writes, with Python's own json, pickle, zlib and base64 (the encoding LiveCodeBench ships its
private tests in: base64(zlib(pickle(json_string)))):
  problems.jsonl        small code_generation_lite rows: stdin and functional problems, private
                        tests compressed with pickle protocols 2..5 or given as plain JSON
  expected_tests.json   {question_id: {"public": [...], "private": [...], "func_name": ...}} as
                        Python decodes them
  bad_pickles.json      {name: base64 text} of compressed pickles that are not a plain str
  predictions.jsonl     responses for the e2e test (correct, wrong, slow, crashing, ...)
Usage: lcb_fixtures.py --out DIR
"""
import argparse
import base64
import json
import os
import pickle
import zlib


def compress(value, protocol):
    return base64.b64encode(zlib.compress(pickle.dumps(value, protocol=protocol))).decode()


def tests(pairs, testtype="stdin"):
    return [{"input": i, "output": o, "testtype": testtype} for i, o in pairs]


def row(qid, platform, date, difficulty, public, private, private_encoding, func_name=None):
    private_json = json.dumps(private)
    if private_encoding == "json":
        private_field = private_json
    else:
        private_field = compress(private_json, private_encoding)
    return {
        "question_title": "Fixture " + qid,
        "question_content": "Solve " + qid + ".",
        "platform": platform,
        "question_id": qid,
        "contest_id": "fixture",
        "contest_date": date + "T00:00:00",
        "starter_code": "class Solution:\n    def %s(self):\n        " % func_name if func_name else "",
        "difficulty": difficulty,
        "public_test_cases": json.dumps(public),
        "private_test_cases": private_field,
        "metadata": json.dumps({"func_name": func_name} if func_name else {}),
    }


class Shell:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cotrain-pickle-canary",))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)

    n = 200000
    big_input = "%d\n%s\n" % (n, " ".join(str(i % 1000) for i in range(n)))
    big_output = "%d\n" % sum(i % 1000 for i in range(n))
    rows = [
        row("fx_sum", "atcoder", "2023-06-01", "easy",
            tests([("3\n1 2 3\n", "6\n")]),
            tests([("2\n-5 5\n", "0\n"), ("1\n7\n", "7\n"), (big_input, big_output)]), 4),
        row("fx_twosum", "leetcode", "2024-05-15", "medium",
            tests([("[2, 7, 11, 15]\n9", "[0, 1]")], "functional"),
            tests([("[3, 2, 4]\n6", "[1, 2]"), ("[3, 3]\n6", "[0, 1]")], "functional"), 5, "twoSum"),
        row("fx_half", "codeforces", "2024-08-20", "hard",
            tests([("5\n", "2.5\n")]), tests([("1\n", "0.5\n"), ("\u00e9 4\n", "2.0\n")]), "json"),
        row("fx_proto2", "atcoder", "2025-03-01", "easy",
            tests([("x\n", "x\n")]), tests([("\u00fcnicode \u2603\n", "\u00fcnicode \u2603\n")]), 2),
        row("fx_proto3", "atcoder", "2025-03-02", "medium",
            tests([("y\n", "y\n")]), tests([("z" * 70000 + "\n", "z" * 70000 + "\n")]), 3),
    ]
    with open(os.path.join(out, "problems.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")

    expected = {}
    for r in rows:
        field = r["private_test_cases"]
        private = json.loads(field) if field.startswith("[") else json.loads(
            pickle.loads(zlib.decompress(base64.b64decode(field))))
        expected[r["question_id"]] = {"public": json.loads(r["public_test_cases"]), "private": private,
                                      "func_name": json.loads(r["metadata"]).get("func_name")}
    with open(os.path.join(out, "expected_tests.json"), "w") as f:
        json.dump(expected, f)

    bad = {
        "list": compress([{"input": "1", "output": "1", "testtype": "stdin"}], 4),
        "reduce": compress(Shell(), 4),
        "bytes": compress(b"[]", 4),
        "protocol0": compress("[]", 0),
        "two_strings": compress(("[]", "[]"), 4),
    }
    with open(os.path.join(out, "bad_pickles.json"), "w") as f:
        json.dump(bad, f)

    sum_correct = "n = int(input())\nprint(sum(map(int, input().split())))\n"
    predictions = [
        {"question_id": "fx_sum", "responses": [
            "Read and add.\n```python\n" + sum_correct + "```\nDone.",
            "```python\nprint(6)\n```",
            "```python\nn = int(input())\na = list(map(int, input().split()))\n"
            "print(sum(sum(a[:i + 1]) - sum(a[:i]) for i in range(n)))\n```",
            "```python\nraise RuntimeError('boom')\n```",
            "```python\nprint(\n```",
            "First try:\n```\nprint(0)\n```\nBetter:\n```py\n" + sum_correct,
            "no code at all",
        ]},
        {"question_id": "fx_twosum", "response":
            "```python\nclass Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
            "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
            "                return [seen[target - x], i]\n            seen[x] = i\n```"},
        {"question_id": "fx_half", "responses": [
            "```python\nprint(int(input().split()[-1]) / 2)\n```",
            "```python\nprint(round(int(input().split()[-1]) / 2 + 0.001, 3))\n```"]},
        {"question_id": "not_in_data", "response": "```python\nprint(1)\n```"},
    ]
    with open(os.path.join(out, "predictions.jsonl"), "w") as f:
        for p in predictions:
            f.write(json.dumps(p) + "\n")


if __name__ == "__main__":
    main()
