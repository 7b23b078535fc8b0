#!/usr/bin/env python3
"""Reference data for the generation tests (tests/parity/generate/): transformers' greedy
generate() on random tiny models and on the real converted checkpoints of
scripts/get_real_models.sh.

Random models (the architectures of model_fixtures.py, final norm scaled so logits are sharp and
the argmax is stable against float rounding), written to --out/random/<name>/ with:
  expected.json          {"prompts": [[ids]], "generated": [[64 ids]]} (do_sample=False, batch 1)
  expected.safetensors   logprobs.<i>: [64, vocab] fp32 log-softmax of a full forward over
                         prompt + generated at the positions that chose each generated token
Real models (when present in $COTRAIN_MODELS, default ~/.cache/cotrain/models), --out/real/<name>/:
  expected.json          {"model", "conversations", "prompts" (apply_chat_template ids),
                          "generated" (64 greedy tokens each, the model's generation_config),
                          "paragraph_ids", "paragraph_logprobs", "tokenizer": [{"text", "ids"}]}
Usage: generate_fixtures.py --out DIR
"""
import argparse
import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

from model_fixtures import VOCAB, cases, scale_weights, set_up_torch

NEW_TOKENS = 64
MODELS = Path(os.environ.get("COTRAIN_MODELS") or Path.home() / ".cache" / "cotrain" / "models")
SHARED = Path(os.environ.get("COTRAIN_SHARED") or Path(__file__).resolve().parents[2] / ".." / "shared")

PARAGRAPH = (
    "The committee met on Tuesday to review the budget. After a long discussion, the members agreed to "
    "postpone the vote until the next meeting, when the final figures from the accounting office would be "
    "available. Several members expressed concern about the rising cost of maintenance."
)
CONVERSATIONS = [
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "Explain step by step how to multiply 12 by 7, then state the result."}],
    [{"role": "system", "content": "You are a careful mathematician."},
     {"role": "user", "content": "Return your final response within \\boxed{}. Show your reasoning: what is the sum of the "
                                 "first 10 positive integers?"}],
    [{"role": "system", "content": "You write Python."},
     {"role": "user", "content": "Write a Python function that returns the n-th Fibonacci number, with a docstring."}],
]


def tokenizer_corpus():
    """Texts for comparing tokenizers: benchmark problems, code, Unicode, control bytes."""
    texts = ["".join(chr(c) for c in range(0, 32)) + " control\x04bytes\x05 and\x1f more",
             "a\x04b \x04\x04 12345 x=3.14159, y=-2e10", "café naïve e\u0301 中文 العربية 👍🏽 ≯",
             "def f(x):\n    return x ** 2  # square\n\n\tif x:\r\n        pass",
             "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "   leading spaces and trailing   \n\n\n"]
    bench = SHARED / "benchmarks" / "math500" / "test.jsonl"
    if bench.exists():
        for i, line in enumerate(open(bench, encoding="utf-8")):
            if i >= 150:
                break
            row = json.loads(line)
            texts += [row["problem"], row["solution"]]
    return texts


def random_models(out):
    g = torch.Generator().manual_seed(7)
    prompts = [torch.randint(0, VOCAB, (n,), generator=g).tolist() for n in (5, 17, 40)]
    for seed, (name, config) in enumerate(cases()):
        config.eos_token_id = None  # generate exactly NEW_TOKENS tokens
        config.bos_token_id = None
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
        scale_weights(model, seed + 100)
        with torch.no_grad():
            model.model.norm.weight.mul_(4.0)  # sharper logits: a stable argmax
        model.generation_config.eos_token_id = None
        model.generation_config.pad_token_id = 0
        d = out / "random" / name
        d.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(d, safe_serialization=True)
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
        generated, tensors = [], {}
        with torch.no_grad():
            for i, ids in enumerate(prompts):
                # An explicit mask: without one, generate() masks every prompt token equal to pad_token_id.
                result = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                        do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, pad_token_id=0)
                new = result[0, len(ids):].tolist()
                assert len(new) == NEW_TOKENS
                generated.append(new)
                logits = model(input_ids=result).logits[0, len(ids) - 1:-1].float()
                tensors[f"logprobs.{i}"] = torch.log_softmax(logits, -1).contiguous()
        save_file(tensors, d / "expected.safetensors")
        (d / "expected.json").write_text(json.dumps({"prompts": prompts, "generated": generated}))
        print(f"random/{name}: {len(prompts)} prompts x {NEW_TOKENS} greedy tokens")


def real_models(out):
    for name in ("qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"):
        src = MODELS / name
        if not (src / "model.safetensors").exists():
            print(f"real/{name}: not present in {MODELS} (scripts/get_real_models.sh converts it); skipped")
            continue
        tokenizer = AutoTokenizer.from_pretrained(src)
        model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
        conversations = CONVERSATIONS[:2] if name.startswith("qwen") else CONVERSATIONS
        prompts, generated = [], []
        with torch.no_grad():
            for messages in conversations:
                ids = list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                         return_dict=True)["input_ids"])
                result = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                        do_sample=False, max_new_tokens=NEW_TOKENS)
                prompts.append(ids)
                generated.append(result[0, len(ids):].tolist())
            paragraph = tokenizer(PARAGRAPH)["input_ids"]
            logits = model(input_ids=torch.tensor([paragraph])).logits[0, :-1].float()
            lp = torch.log_softmax(logits, -1).gather(1, torch.tensor(paragraph[1:]).unsqueeze(1)).squeeze(1)
        fast = Tokenizer.from_file(str(src / "tokenizer.json"))
        corpus = [{"text": t, "ids": fast.encode(t, add_special_tokens=False).ids} for t in tokenizer_corpus()]
        d = out / "real" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "expected.json").write_text(json.dumps({
            "model": str(src), "conversations": conversations, "prompts": prompts, "generated": generated,
            "paragraph_ids": paragraph, "paragraph_logprobs": lp.tolist(), "tokenizer": corpus}, ensure_ascii=False))
        print(f"real/{name}: {len(prompts)} prompts, generated lengths {[len(g) for g in generated]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    set_up_torch(1)  # ctest runs two tests at once on 2 cores
    out = Path(args.out)
    random_models(out)
    real_models(out)


if __name__ == "__main__":
    main()
