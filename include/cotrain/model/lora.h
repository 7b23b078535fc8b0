// LoRA as peft does it, attached to a CausalLM: y = W x + B(A(dropout(x))) * s with
// s = alpha / r (rsLoRA: alpha / sqrt(r)), A kaiming-uniform(a=sqrt(5)), B zeros, no bias; the
// adapter lives inside each adapted Linear (layers.h). The base model is frozen, so only the
// adapter's parameters get gradients (and, in the trainer, optimizer state).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cotrain/model/causal_lm.h"

namespace cotrain {

// The paths of the modules SETTINGS.targets selects (e.g. "model.layers.0.self_attn.q_proj"),
// in model order. A target that matches no decoder linear, or matches another module (lm_head,
// embed_tokens, a norm, a whole attention block), is an InputError naming WHERE (e.g.
// "lora.targets") and the target.
std::vector<std::string> lora_target_paths(CausalLM& model, const LoraSettings& settings, const std::string& where);

// Attaches a fresh adapter to every targeted Linear and freezes every other parameter.
// Bad settings are InputErrors naming the config key (lora.rank must be > 0, lora.alpha > 0,
// lora.dropout in [0, 1), lora.targets as above).
// A is drawn from a CPU generator seeded with SEED (independent of device and dtype); dropout
// masks come from model->lora_dropout_generator, created on the model's device seeded with
// SEED + 1. Attach after moving the model to its device. A model with an adapter is refused.
void add_lora(CausalLM& model, const LoraSettings& settings, std::uint64_t seed);

// The adapter's parameters by model name ("model.layers.0.self_attn.q_proj.lora_A.weight"), in
// model order: what the optimizer steps. Empty without an adapter.
torch::OrderedDict<std::string, torch::Tensor> lora_parameters(CausalLM& model);

// peft's name for a model parameter: "base_model.model." + NAME.
std::string peft_tensor_name(const std::string& name);

// Folds the adapter into the base weights (W += s * B A, in fp32, rounded once to W's dtype, as
// peft's merge_and_unload) and removes it. Base parameters stay frozen.
void merge_lora(CausalLM& model);

}  // namespace cotrain
