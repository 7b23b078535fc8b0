#!/usr/bin/env python3
"""Math grading speed and correctness: cotrain vs Math-Verify on the same pairs, in one run.

Usage: python3 scripts/reference/math_grading_bench.py --cotrain build/cotrain [--shared ../shared] [--repeat 20]

Pairs:
  shared   the 380 labelled pairs of answer-vectors/equivalence.jsonl (labels from their sources)
  golds    every gold answer of math500, aime24, amc23, olympiadbench and minerva_math, paired
           (a) with a re-typeset form of itself inside a sentence ("... final answer is
           $\\boxed{...}$.", \\dfrac, \\left( \\right), spaces after commas) -> label equal, and
           (b) with the gold of another problem of the same benchmark (a fixed shuffle) whose
           normalised text differs -> label unequal (a few such pairs are the same value written
           differently; tests/unit/eval/math/gold_collisions.jsonl lists the ones cotrain finds),
           (c) for a gold that is one value: "so we get $x = G$" -> equal, and -(G) boxed -> unequal,
           (d) G with its first digit increased by one, boxed -> unequal (golds with \\text skipped).
Single thread on both sides; rates use CPU time (user + system: the machine may be shared) and
wall clock is shown too. cotrain is timed as a whole `cotrain grade --pairs` process (JSON in
and out, process start included) over the pairs repeated --repeat times; Math-Verify as
parse(gold) + parse(pred) + verify() per pair inside an already running Python, gold wrapped in
$...$ when it has no math delimiters (how lighteval passes golds). Prints agreement with the
labels for both, grades/s and the ratio as Markdown for docs/performance.md.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(os.environ.get("COTRAIN_SHARED", Path(__file__).resolve().parents[2] / ".." / "shared"))
BENCHES = ["math500", "aime24", "amc23", "olympiadbench", "minerva_math"]


def last_boxed(text):
    at = text.rfind("\\boxed")
    if at < 0:
        return None
    i = text.find("{", at)
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j]
    return None


def golds(bench):
    out = []
    for line in open(SHARED / "benchmarks" / bench / "test.jsonl", encoding="utf-8"):
        row = json.loads(line)
        if bench == "olympiadbench":
            out.append(", ".join(row["final_answer"]))
        elif bench == "minerva_math":
            out.append(last_boxed(row["solution"]) or "")
        else:
            answer = row["answer"]
            out.append(str(int(answer)) if isinstance(answer, float) and answer == int(answer) else str(answer))
    return out


def retypeset(gold):
    s = gold[1:-1] if len(gold) > 2 and gold[0] == "$" and gold[-1] == "$" else gold
    s = s.replace("\\frac", "\\dfrac")
    spaced = []
    for k, c in enumerate(s):
        spaced.append(c)
        nxt = s[k + 1:k + 4]
        thousands = nxt[:1] == "\\" or (len(nxt) == 3 and nxt[0].isdigit() and nxt[2].isdigit())
        if c == "," and not thousands:
            spaced.append(" ")
    s = "".join(spaced).replace("+", " + ")
    if "\\left" not in s:
        s = s.replace("(", "\\left(").replace(")", "\\right)")
    return "Putting it together, the final answer is $\\boxed{" + s + "}$."


def bare(gold):
    return gold[1:-1] if len(gold) > 2 and gold[0] == "$" and gold[-1] == "$" else gold


def single_value(gold):
    """A gold that is one value (no list, relation, text or units), so 'x = G' and '-(G)' make sense."""
    g = bare(gold)
    relations = ("=", "<", ">", "\\le", "\\ge", "\\ne", "\\in", "\\cup")
    return g and "\n" not in g and not any(t in g for t in (",", "\\text", "\\mbox", "\\circ", "\\pm", "$", ";") + relations)


def bump_first_digit(gold):
    for k, c in enumerate(gold):
        if c.isdigit():
            return gold[:k] + str((int(c) + 1) % 10) + gold[k + 1:]
    return None


def simple(s):
    return "".join(s.split()).replace("$", "").replace("\\dfrac", "\\frac")


def make_pairs():
    pairs = []
    for line in open(SHARED / "answer-vectors" / "equivalence.jsonl", encoding="utf-8"):
        row = json.loads(line)
        pairs.append({"set": "shared", "gold": row["gold"], "pred": row["pred"], "label": row["equal"]})
    rng = random.Random(1234)
    for bench in BENCHES:
        gs = golds(bench)
        order = list(range(len(gs)))
        rng.shuffle(order)
        for i, g in enumerate(gs):
            pairs.append({"set": "golds", "kind": "equal: re-typeset", "gold": g, "pred": retypeset(g), "label": True})
            j = order[i] if order[i] != i else order[(i + 1) % len(gs)]
            if simple(gs[j]) != simple(g):
                pairs.append({"set": "golds", "kind": "unequal: other problem", "gold": g, "pred": gs[j], "label": False})
            if single_value(g):
                pairs.append({"set": "golds", "kind": "equal: named (x = G)", "gold": g,
                              "pred": "so we get $x = " + bare(g) + "$", "label": True})
                if simple(g) not in ("0", "-0"):
                    pairs.append({"set": "golds", "kind": "unequal: negated", "gold": g,
                                  "pred": "The answer is $\\boxed{-\\left(" + bare(g) + "\\right)}$", "label": False})
            bumped = bump_first_digit(bare(g))
            if bumped is not None and "\\text" not in g and "\\mbox" not in g:
                pairs.append({"set": "golds", "kind": "unequal: first digit changed", "gold": g,
                              "pred": "The answer is $\\boxed{" + bumped + "}$", "label": False})
    return pairs


def run_cotrain(binary, pairs, repeat, workdir):
    path = Path(workdir) / "pairs.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(repeat):
            for p in pairs:
                f.write(json.dumps({"gold": p["gold"], "pred": p["pred"]}) + "\n")
    out = Path(workdir) / "graded.jsonl"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([binary, "grade", "--pairs", str(path), "--out", str(out)], check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    verdicts = [json.loads(line)["equal"] for line in open(out, encoding="utf-8")][: len(pairs)]
    return verdicts, cpu / repeat, wall / repeat


def run_math_verify(pairs):
    from math_verify import parse, verify

    verdicts = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for p in pairs:
        gold = p["gold"] if ("$" in p["gold"] or "\\boxed" in p["gold"] or "\\(" in p["gold"]) else "$" + p["gold"] + "$"
        try:
            verdicts.append(bool(verify(parse(gold), parse(p["pred"]))))
        except Exception:  # Math-Verify raises on some inputs; count as not equal
            verdicts.append(False)
    return verdicts, time.process_time() - cpu_start, time.perf_counter() - start


def agreement(pairs, verdicts, which):
    rows = [(p, v) for p, v in zip(pairs, verdicts) if which(p)]
    return sum(p["label"] == v for p, v in rows), len(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cotrain", required=True)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    pairs = make_pairs()
    with tempfile.TemporaryDirectory() as tmp:
        ours, ours_s, ours_wall = run_cotrain(args.cotrain, pairs, args.repeat, tmp)
    theirs, theirs_s, theirs_wall = run_math_verify(pairs)
    print(f"{len(pairs)} pairs ({sum(p['set'] == 'shared' for p in pairs)} shared, "
          f"{sum(p['set'] == 'golds' for p in pairs)} from benchmark golds), one thread each\n")
    print("| | cotrain | Math-Verify 0.9.0 |")
    print("|---|---|---|")
    kinds = sorted({p["kind"] for p in pairs if p["set"] == "golds"})
    rows = [("shared pairs (labels of their sources)", lambda p: p["set"] == "shared")]
    rows += [(f"gold pairs, {k}", lambda p, k=k: p.get("kind") == k) for k in kinds]
    rows += [("all gold pairs labelled equal", lambda p: p["set"] == "golds" and p["label"]),
             ("all gold pairs labelled unequal", lambda p: p["set"] == "golds" and not p["label"])]
    for name, which in rows:
        a, n = agreement(pairs, ours, which)
        b, _ = agreement(pairs, theirs, which)
        print(f"| {name} | {a}/{n} ({100 * a / n:.1f}%) | {b}/{n} ({100 * b / n:.1f}%) |")
    print(f"| grades/s, CPU time (all pairs) | {len(pairs) / ours_s:,.0f} | {len(pairs) / theirs_s:,.0f} |")
    print(f"| grades/s, wall clock | {len(pairs) / ours_wall:,.0f} | {len(pairs) / theirs_wall:,.0f} |")
    print(f"| CPU seconds for all pairs | {ours_s:.3f} | {theirs_s:.1f} |")
    print(f"\ncotrain / Math-Verify speed: {theirs_s / ours_s:,.0f}x (CPU time), {theirs_wall / ours_wall:,.0f}x (wall clock)")
    wrong = [(p, v) for p, v in zip(pairs, ours) if p["set"] == "golds" and p["label"] != v]
    for p, v in wrong[:60]:
        print(f"  cotrain {v} on gold pair ({p['kind']}): {p['gold']!r} vs {p['pred'][:120]!r}", file=sys.stderr)


if __name__ == "__main__":
    main()
