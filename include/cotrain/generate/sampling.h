// Choosing the next token from a row of logits: greedy, or sampling with temperature, top-k and
// top-p applied in that order (as transformers' and vLLM's samplers do). Every sample draws from
// its own counter-based random stream keyed by (seed, prompt index, sample index, step), so a
// sample's tokens do not depend on the batch size or on which other samples share its steps.
// Torch-free: it works on a float row in CPU memory.
#pragma once
#include <cstdint>
#include <span>

namespace cotrain {

struct SamplingParams {
  double temperature = 0.0;  // 0: greedy (argmax, lowest id on ties)
  double top_p = 1.0;        // keep the most probable tokens until their mass reaches top_p
  std::int64_t top_k = 0;    // keep the top_k most probable tokens (and any tied with the last); 0: all
  bool greedy() const { return temperature == 0.0; }
};

// Throws InputError naming the flag for values outside temperature >= 0, 0 < top_p <= 1, top_k >= 0.
void check_sampling_params(const SamplingParams& params);

// A uniform double in [0, 1) that depends only on its four keys (splitmix64 mixing).
double sample_uniform(std::uint64_t seed, std::uint64_t prompt, std::uint64_t sample, std::uint64_t step);

// The token picked from LOGITS (one row, fp32) with UNIFORM in [0, 1): greedy ignores it.
// Sampling: probabilities softmax(logits / temperature) in double; top-k keeps logits >= the k-th
// largest; top-p then keeps, in descending probability (lower id first on ties), each token whose
// predecessors' mass is below top_p; the token is the first whose cumulative mass (of the kept
// tokens, renormalised) exceeds UNIFORM.
std::int64_t choose_token(std::span<const float> logits, const SamplingParams& params, double uniform);

}  // namespace cotrain
