#!/usr/bin/env python3
"""Reference numbers for the model parity tests (tests/parity/model/).

Builds small random transformers models covering the supported architectures, with weights
scaled so logits are O(1) (the default 0.02 init makes every log-prob about -log(vocab) and
hides errors), saves them with save_pretrained, and records for fixed inputs:
  logprobs.<i>       fp32 log p(x_t | x_<t) of sequence i (transformers, fp32)
  logprobs_bf16.<i>  the same with the model loaded in bfloat16
  grad.<param>       gradient of the summed NLL of all sequences w.r.t. each parameter (fp32)
Usage: model_fixtures.py --out DIR
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

VOCAB = 512


def set_up_torch(threads):
    """THREADS CPU threads, and MKL's vector math set up by a one-element call: its first call in a
    process (transformers' rotary cos, after the matmul before it) sometimes returned wrong values,
    off by up to 1.5e-4, which would put wrong numbers into a reference (src/model/layers.cpp)."""
    torch.set_num_threads(threads)
    torch.ones(1).cos()


def cases():
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                  max_position_embeddings=512, rms_norm_eps=1e-6)
    yield "qwen2_gqa_untied", Qwen2Config(**common, num_attention_heads=4, num_key_value_heads=2,
                                          tie_word_embeddings=False, rope_theta=1e6)
    yield "qwen2_tied", Qwen2Config(**common, num_attention_heads=4, num_key_value_heads=4,
                                    tie_word_embeddings=True, rope_theta=1e4)
    yield "qwen3_head_dim", Qwen3Config(**common, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                                        tie_word_embeddings=False, rope_theta=1e6)
    yield "llama3_rope_scaling", LlamaConfig(
        **common, num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=False,
        attention_bias=True, mlp_bias=True,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64})


def scale_weights(model, seed):
    """Weights with O(1) activations and logits, and non-trivial norms and biases."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)


def sequence_logprobs(model, ids):
    logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    return torch.log_softmax(logits[:-1], -1).gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)


def logprobs_and_nll(model, sequences):
    """Each sequence's log-probs (detached copies) and the summed NLL of all of them, still in the graph."""
    logprobs = [sequence_logprobs(model, ids) for ids in sequences]
    return [lp.detach().clone() for lp in logprobs], -sum(lp.sum() for lp in logprobs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    set_up_torch(max(1, min(2, os.cpu_count() or 1)))
    g = torch.Generator().manual_seed(1)
    # Lengths include 1 (no targets) and a run past the llama3 original context (64).
    sequences = [torch.randint(0, VOCAB, (n,), generator=g).tolist() for n in (23, 1, 100, 7, 48)]
    for seed, (name, config) in enumerate(cases()):
        out = os.path.join(args.out, name)
        os.makedirs(out, exist_ok=True)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
        scale_weights(model, seed)
        model.save_pretrained(out, safe_serialization=True)
        model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
        logprobs, total_nll = logprobs_and_nll(model, sequences)
        expected = {f"logprobs.{i}": lp for i, lp in enumerate(logprobs)}
        total_nll.backward()
        for pname, p in model.named_parameters():
            expected[f"grad.{pname}"] = p.grad.detach().clone()
        bf16 = AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16).eval()
        with torch.no_grad():
            for i, ids in enumerate(sequences):
                expected[f"logprobs_bf16.{i}"] = sequence_logprobs(bf16, ids).clone()
        save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(out, "expected.safetensors"))
        with open(os.path.join(out, "inputs.json"), "w") as f:
            json.dump({"sequences": sequences}, f)
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, nll {total_nll.item():.4f}")


if __name__ == "__main__":
    main()
