// The training loss: summed next-token NLL through the LM head, fused and chunked. For each chunk
// of positions it computes the logits, their NLL, and at once the gradients with respect to the
// hidden states and the head (softmax - one-hot, two matmuls), so [T, vocab] logits never exist
// and nothing of size vocab is kept for the backward pass, which only scales the stored
// gradients. Same matmul count as autograd through logits + cross-entropy.
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

// sum over t with targets[t] >= 0 of -log softmax(hidden[t] head^T)[targets[t]], in fp32.
// hidden [T, H], head [vocab, H] (any float dtype; logits are computed in that dtype, then fp32).
// LossGradients::build under NoGradGuard is a RuntimeFailure (nothing could use the gradients).
// CHUNK positions at a time: their fp32 [chunk, vocab] buffer (the logits, then their gradient in
// place) is what the loss adds to a step's peak memory besides the fp32 [vocab, hidden] head
// gradient: 148 MiB at 256 positions and Qwen's vocabulary (1,024 took 594 MiB and ran no faster).
constexpr std::int64_t kLossChunk = 256;
torch::Tensor summed_nll(const torch::Tensor& hidden, const torch::Tensor& head, const torch::Tensor& targets,
                         LossGradients gradients, std::int64_t chunk = kLossChunk);

}  // namespace cotrain
