#!/usr/bin/env python3
"""A random PEFT LoRA adapter (non-zero B) for the model in --model, saved by peft itself: input for
the end-to-end tests of `cotrain score --adapter` and `cotrain export`.

  random_adapter.py --model DIR --out DIR [--targets all-linear | --targets q_proj v_proj ...]
                    [--r 8] [--alpha 16] [--rslora] [--seed 0]
"""
import argparse

from lora_fixtures import make_random_adapter


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--targets", nargs="+", default=["all-linear"])
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--alpha", type=int, default=16)
    ap.add_argument("--rslora", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    targets = "all-linear" if args.targets == ["all-linear"] else args.targets
    make_random_adapter(args.model, args.out, dict(target_modules=targets, r=args.r, lora_alpha=args.alpha,
                                                   use_rslora=args.rslora), args.seed)


if __name__ == "__main__":
    main()
