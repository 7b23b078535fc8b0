#!/usr/bin/env python3
"""transformers' log-probs for the sequences of a `cotrain score` input file, to compare with
cotrain's output; with --adapter, through a PEFT LoRA adapter loaded by peft (unmerged).

  transformers_score.py --model DIR [--adapter DIR] --input IDS.jsonl --compare COTRAIN_OUT.jsonl [--tol 1e-4]
exits 1 (printing the worst line) when any log-prob differs by more than --tol.
"""
import argparse
import json
import sys

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter")
    ap.add_argument("--input", required=True)
    ap.add_argument("--compare", required=True)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    if args.adapter:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, args.adapter).eval()
    rows = [json.loads(l) for l in open(args.input) if l.strip()]
    got = [json.loads(l) for l in open(args.compare) if l.strip()]
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
                sys.exit(f"line {i + 1}: shape {tuple(mine.shape)} vs {tuple(ref.shape)}")
            diff = (mine - ref).abs().max().item() if len(ids) > 1 else 0.0
            if abs(out["nll"] + ref.sum().item()) > args.tol * max(1, len(ids)):
                sys.exit(f"line {i + 1}: nll {out['nll']} vs {-ref.sum().item()}")
            worst = max(worst, (diff, i + 1))
    print(f"max abs diff {worst[0]:.3g} (line {worst[1]}) over {len(rows)} sequences")
    if worst[0] > args.tol:
        sys.exit(1)


if __name__ == "__main__":
    main()
