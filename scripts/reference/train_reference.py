#!/usr/bin/env python3
"""Reference training runs for the training parity tests (tests/parity/train/).

For each case: a small random transformers model with O(1) logits (weights scaled as in
model_fixtures.py), a token cache of documents with varied lengths and loss masks (the files of
`cotrain data prepare`), a cotrain config (config.json) and what a plain PyTorch loop gives with
those settings, written the way users' trainers run it:
  - the documents of each epoch in cotrain's order (splitmix64 Fisher-Yates from (seed, epoch),
    ported below), global_batch documents per optimizer step, the last step of an epoch smaller;
  - micro-batches of micro_batch documents, right-padded, attention_mask, labels -100;
  - loss of a step = sum of target-token NLL over its micro-batches / target tokens of the step;
  - torch.nn.utils.clip_grad_norm_, torch.optim.AdamW with the transformers Trainer's decay groups
    (no decay on biases and norms), transformers' get_*_schedule_with_warmup, scheduler.step()
    after each optimizer step.
Writes CASE/model (save_pretrained), CASE/cache, CASE/config.json, CASE/expected.json (per-step
loss, grad_norm, lr) and CASE/update.safetensors (final - initial weight of every parameter).
Usage: train_reference.py --out DIR
"""
import argparse
import json
import math
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import (AutoModelForCausalLM, LlamaConfig, Qwen2Config, get_constant_schedule_with_warmup,
                          get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_fixtures import scale_weights, set_up_torch  # noqa: E402

VOCAB = 512
MASK64 = (1 << 64) - 1


class Rng:
    """cotrain's Rng (include/cotrain/data/rng.h): splitmix64, Fisher-Yates, unbiased below()."""

    def __init__(self, seed, index=None):
        if index is None:
            self.state = seed & MASK64
        else:
            self.state = Rng((seed ^ (index * 0xD1B54A32D192ED03)) & MASK64).next()

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        threshold = ((1 << 64) - n) % n
        while True:
            r = self.next()
            if r >= threshold:
                return r % n

    def shuffle(self, items):
        for i in range(len(items), 1, -1):
            j = self.below(i)
            items[i - 1], items[j] = items[j], items[i - 1]


def epoch_order(n, seed, epoch):
    order = list(range(n))
    Rng(seed, epoch).shuffle(order)
    return order


def make_documents(seed, count, cutoff):
    """Varied lengths (2..cutoff), a prompt part (mask 0) then a response (mask 1); some documents
    are all targets after the first token (train-on-prompt style)."""
    g = torch.Generator().manual_seed(seed)
    docs = []
    for i in range(count):
        n = int(torch.randint(2, cutoff + 1, (1,), generator=g))
        ids = torch.randint(0, VOCAB, (n,), generator=g).tolist()
        if i % 4 == 3:
            mask = [1] * n
        else:
            prompt = int(torch.randint(1, n, (1,), generator=g))
            mask = [0] * prompt + [1] * (n - prompt)
        docs.append((ids, mask))
    return docs


def write_cache(path, docs, cutoff):
    os.makedirs(path, exist_ok=True)
    offsets = [0]
    for ids, _ in docs:
        offsets.append(offsets[-1] + len(ids))
    with open(os.path.join(path, "ids.bin"), "wb") as f:
        f.write(torch.tensor([t for ids, _ in docs for t in ids], dtype=torch.int32).numpy().tobytes())
    with open(os.path.join(path, "mask.bin"), "wb") as f:
        f.write(bytes([m for _, mask in docs for m in mask]))
    with open(os.path.join(path, "offsets.bin"), "wb") as f:
        f.write(torch.tensor(offsets, dtype=torch.int64).numpy().tobytes())
    targets = sum(sum(mask[1:]) for _, mask in docs)
    manifest = {"format": "cotrain-token-cache", "version": 2, "template": "none", "cutoff": cutoff, "system_prompt": None,
                "counts": {"documents": len(docs), "tokens": offsets[-1], "target_tokens": targets}}
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)


def decay_parameter_names(model):
    patterns = ["bias", "layernorm", "rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]
    import re
    return {n for n, _ in model.named_parameters() if not any(re.search(p, n.lower()) for p in patterns)}


def padded_batch(batch):
    """(ids, mask) documents right-padded to the longest: input_ids, attention_mask, labels (-100)."""
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.zeros(len(batch), width, dtype=torch.long)
    attention = torch.zeros(len(batch), width, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, (ids, mask) in enumerate(batch):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        attention[row, :len(ids)] = 1
        labels[row, :len(ids)] = torch.tensor([t if m else -100 for t, m in zip(ids, mask)])
    return input_ids, attention, labels


def micro_batch_nll(model, batch):
    """Summed next-token NLL of right-padded documents, and their target count."""
    input_ids, attention, labels = padded_batch(batch)
    logits = model(input_ids=input_ids, attention_mask=attention).logits.float()
    shift_logits, shift_labels = logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1)
    nll = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="sum")
    return nll, int((shift_labels != -100).sum())


def reference_run(model, docs, cfg):
    t = cfg["train"]
    decay = decay_parameter_names(model)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in model.named_parameters() if p.requires_grad and n in decay], "weight_decay": t["weight_decay"]},
              {"params": [p for n, p in model.named_parameters() if p.requires_grad and n not in decay], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=t["lr"], betas=tuple(t["adam_betas"]), eps=t["adam_eps"])
    n = len(docs)
    steps_per_epoch = math.ceil(n / t["global_batch"])
    total = t["max_steps"] if t.get("max_steps", 0) > 0 else math.ceil(t["epochs"] * steps_per_epoch)
    warmup = math.ceil(t["warmup_ratio"] * total)
    schedule = {"cosine": get_cosine_schedule_with_warmup, "linear": get_linear_schedule_with_warmup}.get(t["schedule"])
    scheduler = (schedule(optimizer, warmup, total) if schedule else get_constant_schedule_with_warmup(optimizer, warmup))
    steps, epoch, position, order = [], 0, 0, epoch_order(n, t["seed"], 0)
    model.train()
    for _ in range(total):
        if position >= n:
            epoch, position = epoch + 1, 0
            order = epoch_order(n, t["seed"], epoch)
        step_docs = [docs[i] for i in order[position:position + t["global_batch"]]]
        position += len(step_docs)
        micro = [step_docs[i:i + t["micro_batch"]] for i in range(0, len(step_docs), t["micro_batch"])]
        step_targets = sum(sum(mask[1:]) for _, mask in step_docs)
        total_nll = 0.0
        for batch in micro:
            nll, _ = micro_batch_nll(model, batch)
            (nll / step_targets).backward()
            total_nll += nll.item()
        max_norm = t["max_grad_norm"] if t["max_grad_norm"] > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm).item()
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        steps.append({"loss": total_nll / step_targets, "grad_norm": grad_norm, "lr": lr, "target_tokens": step_targets})
    return steps


COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=160, num_hidden_layers=2, max_position_embeddings=512,
              rms_norm_eps=1e-6)
TRAIN = dict(adam_betas=[0.9, 0.999], adam_eps=1e-8, max_steps=0, epochs=2, min_lr_ratio=0.0)


def lora_cases():
    """LoRA runs as peft trains them, starting from a saved adapter (cotrain's lora.init)."""
    common, train = COMMON, dict(TRAIN, seed=11)
    yield "qwen2_lora", Qwen2Config(**common, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                                    rope_theta=1e6), 13, 96, dict(
        train, global_batch=4, micro_batch=2, lr=5e-3, schedule="cosine", warmup_ratio=0.25, weight_decay=0.1, max_grad_norm=1.0), \
        dict(r=4, lora_alpha=8, target_modules="all-linear", use_rslora=False)
    yield "llama_lora", LlamaConfig(**common, num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=False,
                                    attention_bias=True, mlp_bias=True), 10, 80, dict(
        train, global_batch=3, micro_batch=1, lr=3e-3, schedule="linear", warmup_ratio=0.1, weight_decay=0.0, max_grad_norm=0.5,
        max_steps=7), dict(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], use_rslora=True)


def make_lora_case(out, name, model_config, count, cutoff, train, lora, seed):
    from peft import LoraConfig, get_peft_model
    from peft.utils import get_peft_model_state_dict
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(model_config, dtype=torch.float32, attn_implementation="sdpa")
    scale_weights(model, seed)
    model.save_pretrained(os.path.join(out, "model"), safe_serialization=True)
    peft_model = get_peft_model(model, LoraConfig(lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", **lora))
    g = torch.Generator().manual_seed(seed + 50)
    with torch.no_grad():  # a non-zero B, so the first steps already go through the adapter's scaling
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.copy_(0.3 * torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    peft_model.save_pretrained(os.path.join(out, "adapter"))
    docs = make_documents(200 + seed, count, cutoff)
    write_cache(os.path.join(out, "cache"), docs, cutoff)
    config = {"model": {"path": os.path.join(out, "model"), "dtype": "fp32", "device": "cpu"},
              "data": {"path": os.path.join(out, "cache"), "template": "none", "cutoff": cutoff},
              "train": dict(train, activation_checkpointing=False),
              "lora": {"init": os.path.join(out, "adapter")}}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    initial = {n: t.clone() for n, t in get_peft_model_state_dict(peft_model).items()}
    steps = reference_run(peft_model, docs, config)
    final = get_peft_model_state_dict(peft_model)
    save_file({n: (final[n] - initial[n]).contiguous() for n in initial}, os.path.join(out, "update.safetensors"))
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"steps": steps}, f, indent=1)
    print(f"{name}: {len(steps)} steps, loss {steps[0]['loss']:.4f} -> {steps[-1]['loss']:.4f}")


def cases():
    common, train = COMMON, dict(TRAIN, seed=7)
    # Qwen2, tied, GQA: accumulation over 2 micro-batches, clipping, weight decay, cosine warm-up,
    # a last step of each epoch with fewer documents.
    yield "qwen2_sft", Qwen2Config(**common, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                                   rope_theta=1e6), 13, 96, dict(
        train, global_batch=4, micro_batch=2, lr=2e-3, schedule="cosine", warmup_ratio=0.25, weight_decay=0.1, max_grad_norm=1.0)
    # Llama-3 shape (untied, biases, rope scaling), one document per micro-batch, linear decay, a
    # tighter clip, steps running past the first epoch.
    yield "llama_sft", LlamaConfig(**common, num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=False,
                                   attention_bias=True, mlp_bias=True,
                                   rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                    "original_max_position_embeddings": 64}), 10, 80, dict(
        train, global_batch=3, micro_batch=1, lr=1e-3, schedule="linear", warmup_ratio=0.1, weight_decay=0.01, max_grad_norm=0.5,
        max_steps=9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    set_up_torch(max(1, min(2, os.cpu_count() or 1)))
    for seed, (name, model_config, count, cutoff, train) in enumerate(cases()):
        out = os.path.join(args.out, name)
        os.makedirs(out, exist_ok=True)
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(model_config, dtype=torch.float32, attn_implementation="sdpa")
        scale_weights(model, seed)
        model.save_pretrained(os.path.join(out, "model"), safe_serialization=True)
        docs = make_documents(100 + seed, count, cutoff)
        write_cache(os.path.join(out, "cache"), docs, cutoff)
        config = {"model": {"path": os.path.join(out, "model"), "dtype": "fp32", "device": "cpu"},
                  "data": {"path": os.path.join(out, "cache"), "template": "none", "cutoff": cutoff},
                  "train": dict(train, activation_checkpointing=False)}
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        initial = {n: p.detach().clone() for n, p in model.named_parameters()}
        steps = reference_run(model, docs, config)
        update = {n: (p.detach() - initial[n]).contiguous() for n, p in model.named_parameters()}
        save_file(update, os.path.join(out, "update.safetensors"))
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump({"steps": steps}, f, indent=1)
        print(f"{name}: {len(steps)} steps, loss {steps[0]['loss']:.4f} -> {steps[-1]['loss']:.4f}")
    for seed, (name, model_config, count, cutoff, train, lora) in enumerate(lora_cases()):
        out = os.path.join(args.out, name)
        os.makedirs(out, exist_ok=True)
        make_lora_case(out, name, model_config, count, cutoff, train, lora, 20 + seed)


if __name__ == "__main__":
    main()
