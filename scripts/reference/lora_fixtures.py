#!/usr/bin/env python3
"""Reference numbers for the LoRA parity tests (tests/parity/model/lora_parity_test.cpp), from peft.

For small random base models (weights scaled so logits are O(1), as model_fixtures.py) and random
peft adapters with non-zero B (so the adapter visibly changes every log-prob), writes per case:
  base/                 the base model (save_pretrained)
  adapter/              the adapter as peft saves it (PeftModel.save_pretrained)
  inputs.json           {"sequences": [...], "targets": [...], "r", "alpha", "rslora", "dropout"}
  expected.safetensors
    logprobs.<i>          fp32 log p(x_t | x_<t) of sequence i through the adapter (peft, unmerged)
    base_logprobs.<i>     the same without the adapter
    logprobs_bf16.<i>     base loaded in bf16 + adapter (peft keeps the adapter in fp32)
    merged_logprobs.<i>   after merge_and_unload (fp32)
    merged.<param>        merged weight of each adapted linear (fp32 base)
    merged_bf16.<param>   the same with the base in bf16
    grad.<tensor>         gradient of the summed NLL of all sequences w.r.t. each adapter tensor
                          (named as in adapter_model.safetensors)
    train_bf16_logprobs.<i>, train_bf16_grad.<tensor>
                          the same in a bf16 training step as transformers' Trainer runs it with
                          bf16=True: base in bf16, fp32 adapters, the forward under CPU autocast
                          (bf16), train mode with the adapter's dropout set to 0
Usage: lora_fixtures.py --out DIR
"""
import argparse
import json
import os

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

from model_fixtures import VOCAB, logprobs_and_nll, scale_weights, sequence_logprobs, set_up_torch


def cases():
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                  max_position_embeddings=512, rms_norm_eps=1e-6)
    # Qwen2: tied embeddings, q/k/v biases; every linear; dropout in the config (off in eval).
    yield ("qwen2_tied_all_linear",
           Qwen2Config(**common, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1e6),
           dict(target_modules="all-linear", r=8, lora_alpha=16, lora_dropout=0.1))
    # Qwen3: untied, q/k norms; a subset of names and one module given by its full path.
    yield ("qwen3_subset",
           Qwen3Config(**common, num_attention_heads=4, num_key_value_heads=2, head_dim=32, tie_word_embeddings=False,
                       rope_theta=1e6),
           dict(target_modules=["q_proj", "v_proj", "model.layers.1.mlp.down_proj"], r=8, lora_alpha=16))
    # Llama: untied, attention and MLP biases; every linear with rsLoRA scaling.
    yield ("llama_rslora",
           LlamaConfig(**common, num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=False,
                       attention_bias=True, mlp_bias=True, rope_theta=5e5),
           dict(target_modules="all-linear", r=8, lora_alpha=16, use_rslora=True))


def randomize_adapter(model, seed):
    """A like peft's init, B non-zero: the update s·B·A·x is about half the size of W·x."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_A" in name:
                bound = 1 / p.shape[1] ** 0.5
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
            elif "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5 / p.shape[1] ** 0.5)


def make_random_adapter(base_dir, adapter_dir, lora_kwargs, seed):
    """Writes a random adapter for the model in BASE_DIR with peft's own save_pretrained."""
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", **lora_kwargs))
    randomize_adapter(peft_model, seed)
    peft_model.save_pretrained(adapter_dir)


def saved_name(peft_param_name):
    return peft_param_name.replace(".default.", ".")


def adapted_weight_names(peft_model):
    """Base-model names of the weights of the linears that carry an adapter."""
    return [n[len("base_model.model."):] + ".weight" for n, m in peft_model.named_modules()
            if hasattr(m, "lora_A") and len(m.lora_A)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    set_up_torch(max(1, min(2, os.cpu_count() or 1)))
    g = torch.Generator().manual_seed(2)
    sequences = [torch.randint(0, VOCAB, (n,), generator=g).tolist() for n in (23, 1, 100, 7, 48, 2)]
    for seed, (name, config, lora_kwargs) in enumerate(cases()):
        out = os.path.join(args.out, name)
        base_dir, adapter_dir = os.path.join(out, "base"), os.path.join(out, "adapter")
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        scale_weights(model, 10 + seed)
        model.save_pretrained(base_dir)
        make_random_adapter(base_dir, adapter_dir, lora_kwargs, 20 + seed)

        expected = {}
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
        with torch.no_grad():
            for i, ids in enumerate(sequences):
                expected[f"base_logprobs.{i}"] = sequence_logprobs(base, ids).clone()
        peft_model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True).eval()  # eval: no dropout
        logprobs, total_nll = logprobs_and_nll(peft_model, sequences)
        expected.update({f"logprobs.{i}": lp for i, lp in enumerate(logprobs)})
        total_nll.backward()
        for pname, p in peft_model.named_parameters():
            if "lora_" in pname:
                expected[f"grad.{saved_name(pname)}"] = p.grad.detach().clone()
            elif p.grad is not None:
                raise SystemExit(f"{name}: peft gave the frozen base parameter {pname} a gradient")
        adapted = adapted_weight_names(peft_model)
        merged = peft_model.merge_and_unload()
        with torch.no_grad():
            for i, ids in enumerate(sequences):
                expected[f"merged_logprobs.{i}"] = sequence_logprobs(merged, ids).clone()
            weights = merged.state_dict()
            for pname in adapted:
                expected[f"merged.{pname}"] = weights[pname].clone()

        bf16 = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16), adapter_dir).eval()
        assert all(p.dtype == torch.float32 for n, p in bf16.named_parameters() if "lora_" in n)  # autocast_adapter_dtype
        with torch.no_grad():
            for i, ids in enumerate(sequences):
                expected[f"logprobs_bf16.{i}"] = sequence_logprobs(bf16, ids).clone()
            weights = bf16.merge_and_unload().state_dict()
            for pname in adapted:
                expected[f"merged_bf16.{pname}"] = weights[pname].clone()

        trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16), adapter_dir,
                                            is_trainable=True).train()
        for module in trained.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logprobs, train_nll = logprobs_and_nll(trained, sequences)
        expected.update({f"train_bf16_logprobs.{i}": lp for i, lp in enumerate(logprobs)})
        train_nll.backward()
        for pname, p in trained.named_parameters():
            if "lora_" in pname:
                assert p.grad.dtype == torch.float32, pname
                expected[f"train_bf16_grad.{saved_name(pname)}"] = p.grad.detach().clone()

        save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(out, "expected.safetensors"))
        targets = lora_kwargs["target_modules"]
        with open(os.path.join(out, "inputs.json"), "w") as f:
            json.dump({"sequences": sequences, "targets": targets if isinstance(targets, list) else [targets],
                       "r": lora_kwargs["r"], "alpha": lora_kwargs["lora_alpha"],
                       "rslora": lora_kwargs.get("use_rslora", False), "dropout": lora_kwargs.get("lora_dropout", 0.0)}, f)
        print(f"{name}: nll through the adapter {total_nll.item():.4f}")


if __name__ == "__main__":
    main()
