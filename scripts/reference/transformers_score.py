#!/usr/bin/env python3
"""transformers' log-probs for the sequences of a `cotrain score` input file, to compare with
cotrain's output; with --adapter, through a PEFT LoRA adapter loaded by peft (unmerged).

  transformers_score.py --model DIR [--adapter DIR] --input IDS.jsonl --compare COTRAIN_OUT.jsonl [--tol 1e-4]
  transformers_score.py --case MODEL ADAPTER|- IDS.jsonl COTRAIN_OUT.jsonl [--case ...]   (one Python start for many)
exits 1 (printing the worst line) when any log-prob differs by more than --tol.
"""
import argparse
import json
import sys

import torch
from transformers import AutoModelForCausalLM

from model_fixtures import set_up_torch


def compare(model_dir, adapter, input_path, compare_path, tol):
    """Prints the worst difference; returns whether every log-prob is within TOL."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    if adapter:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, adapter).eval()
    rows = [json.loads(l) for l in open(input_path) if l.strip()]
    got = [json.loads(l) for l in open(compare_path) if l.strip()]
    if len(rows) != len(got):
        sys.exit(f"{len(rows)} inputs but {len(got)} outputs")
    worst = (0.0, -1)
    with torch.no_grad():
        for i, (row, out) in enumerate(zip(rows, got)):
            ids = row["input_ids"]
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
            ref = torch.log_softmax(logits[:-1], -1).gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)
            mine = torch.tensor(out["logprobs"], dtype=torch.float32)
            if mine.shape != ref.shape or out["tokens"] != len(ids):
                sys.exit(f"{compare_path}:{i + 1}: shape {tuple(mine.shape)} vs {tuple(ref.shape)}")
            diff = (mine - ref).abs().max().item() if len(ids) > 1 else 0.0
            if abs(out["nll"] + ref.sum().item()) > tol * max(1, len(ids)):
                sys.exit(f"{compare_path}:{i + 1}: nll {out['nll']} vs {-ref.sum().item()}")
            worst = max(worst, (diff, i + 1))
    print(f"{compare_path}: max abs diff {worst[0]:.3g} (line {worst[1]}) over {len(rows)} sequences")
    return worst[0] <= tol


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--adapter")
    ap.add_argument("--input")
    ap.add_argument("--compare")
    ap.add_argument("--case", nargs=4, action="append", default=[], metavar=("MODEL", "ADAPTER", "INPUT", "COMPARE"),
                    help="one more comparison in the same run (ADAPTER '-' for none); repeatable")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    set_up_torch(torch.get_num_threads())
    cases = [tuple(c) for c in args.case]
    if args.model:
        cases.insert(0, (args.model, args.adapter or "-", args.input, args.compare))
    if not cases or any(None in c for c in cases):
        ap.error("give --model, --input and --compare, or --case")
    results = [compare(m, None if a == "-" else a, i, c, args.tol) for m, a, i, c in cases]
    if not all(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
