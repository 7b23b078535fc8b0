// Per-token log-probabilities from final hidden states without materialising [T, vocab]
// logits at once: the LM head and log-softmax run over chunks of positions (in fp32).
#pragma once
#include <torch/types.h>

#include "cotrain/model/causal_lm.h"

namespace cotrain {

// out[t] = log p(targets[t] | hidden[t]) for hidden [T, H] and head [vocab, H]; 0 where target < 0 (kIgnoreIndex).
// For scoring; training differentiates summed_nll (model/loss.h), which keeps nothing of size vocab.
torch::Tensor token_logprobs(const torch::Tensor& hidden, const torch::Tensor& head, const torch::Tensor& targets,
                             std::int64_t chunk = 1024);

// Convenience: the model's log-probs for one packed row, [T] fp32 (0 where the row has no target).
torch::Tensor row_logprobs(CausalLM& model, const PackedRow& row, std::int64_t chunk = 1024);

}  // namespace cotrain
