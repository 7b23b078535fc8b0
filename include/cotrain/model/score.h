// Log-likelihood of whole token sequences, many at a time: sequences are sorted by length and
// packed into rows of up to max_tokens tokens (a longer one gets a row of its own).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "cotrain/model/causal_lm.h"

namespace cotrain {

struct SequenceScore {
  std::vector<double> logprobs;  // logprobs[t-1] = log p(x_t | x_<t), t = 1..n-1
  double nll = 0;                // -sum(logprobs)
};

// Results in input order. on_tokens(n) is called as rows finish (for progress output).
std::vector<SequenceScore> score_sequences(CausalLM& model, const std::vector<std::vector<std::int64_t>>& sequences,
                                           std::int64_t max_tokens, const std::function<void(std::int64_t)>& on_tokens = {});

}  // namespace cotrain
