// The training loss: summed next-token NLL through the LM head, fused and chunked. It computes the
// NLL and at once the gradients with respect to the hidden states and the head, one chunk of
// positions and one block of the vocabulary at a time (a first pass for each position's
// log-sum-exp, a second that turns the chunk's logits into softmax - one-hot for two products), so
// a row's [T, vocab] logits never exist and nothing of size vocab but the fp32 head gradient is
// kept for the backward pass, which only scales the stored gradients.
#pragma once
#include <torch/types.h>

#include <cstdint>

namespace cotrain {

// Whether summed_nll prepares the backward pass. The caller says so: deciding from requires_grad
// would build an fp32 [vocab, hidden] head gradient for a validation loss under NoGradGuard.
enum class LossGradients {
  skip,   // the value only (validation, scoring); the result has no grad_fn
  build,  // also the gradients of hidden and head, for those of them that require grad
};

// sum over t with targets[t] >= 0 of -log softmax(hidden[t] head^T)[targets[t]], in fp32. hidden
// [T, H], head [vocab, H] (any float dtype; logits are computed in that dtype, then fp32).
// LossGradients::build under NoGradGuard is a RuntimeFailure (nothing could use the gradients).
// CHUNK positions at a time: their [chunk, vocab] logits (594 MiB in bf16 at 2,048 positions of a
// 151,936-token vocabulary; one [chunk, kLossVocabBlock] block without gradients on a CPU) are what
// the loss adds to a step's peak memory besides the fp32 [vocab, hidden] head gradient and the fp32
// [T, hidden] one of the hidden states. Longer chunks make longer products; the head's gradient
// is read and added once per chunk. The vocabulary is taken kLossVocabBlock rows at a time on a
// CPU (a block's logits stay in its caches) and whole on a GPU, where one fused log-softmax
// replaces the blocks' generic passes (the chunk then also holds its fp32 log-probabilities until
// their exponentials are rounded into the logits' storage).
constexpr std::int64_t kLossChunk = 2048, kLossVocabBlock = 4096;
torch::Tensor summed_nll(const torch::Tensor& hidden, const torch::Tensor& head, const torch::Tensor& targets,
                         LossGradients gradients, std::int64_t chunk = kLossChunk);

}  // namespace cotrain
