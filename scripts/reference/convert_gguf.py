#!/usr/bin/env python3
"""One-time converter (used by scripts/get_real_models.sh): a GGUF checkpoint into a Hugging Face
model directory that cotrain and transformers both load.

  convert_gguf.py --gguf FILE --out DIR --fix qwen|smollm2

transformers reads the GGUF (it needs the gguf and accelerate packages), dequantizes the weights to
float32 and saves the model and tokenizer. Two fix-ups make the written tokenizer.json equal the
original tokenizers (shared/reference/real-models.md):
  qwen     the normalizer is left empty; Qwen2's own is NFC.
  smollm2  llama.cpp's "smollm" pre-tokenizer splits digits one by one; transformers writes plain
           GPT-2 splitting instead: Split(\\p{N}, Isolated) is put before ByteLevel(use_regex).
generation_config.json gets the original models' end-of-sequence ids (Qwen2.5 instruct models end
turns with <|im_end|> and documents with <|endoftext|>).
"""
import argparse
import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig


def fix_tokenizer(path, fix):
    tokenizer = json.loads(path.read_text(encoding="utf-8"))
    if fix == "qwen":
        tokenizer["normalizer"] = {"type": "NFC"}
    elif fix == "smollm2":
        tokenizer["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    path.write_text(json.dumps(tokenizer, ensure_ascii=False, indent=2), encoding="utf-8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fix", required=True, choices=["qwen", "smollm2"])
    args = ap.parse_args()
    gguf = Path(args.gguf)
    out = Path(args.out)
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    quantizer = getattr(model, "hf_quantizer", None)  # transformers >= 5.24 keeps one that refuses to save
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    if args.fix == "qwen":
        model.generation_config.eos_token_id = [151645, 151643]
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    fix_tokenizer(out / "tokenizer.json", args.fix)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                 "generation_config.json"):
        if not (out / name).exists():
            raise SystemExit(f"convert_gguf: {out / name} was not written")
    print(f"convert_gguf: {out} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters)")


if __name__ == "__main__":
    main()
