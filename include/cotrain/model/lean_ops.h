#pragma once

#include <torch/torch.h>

namespace cotrain {

// The decoder's element-wise pieces as autograd functions that keep only their inputs for the
// backward pass and recompute the rest there. Values and gradients are bit for bit those of
// autograd through the plain composite (the same ATen ops in the same order), but for weight
// gradients where MKL computes them (weight_gradient.h), the norm's weight gradient where
// cpu_elementwise.h's one-pass kernels run (bf16 on AVX-512 BF16 CPUs: within a bf16 rounding of
// autograd's, and closer to the exact sum), and on a GPU the norm, SwiGLU and the rotary embedding,
// which run as one kernel each way there (torch's fused RMSNorm; cuda_elementwise.h), each output the fp32 arithmetic
// rounded once: within a rounding of the composite's, which rounds an intermediate first. What
// changes is the activation memory of a training step. Per token and layer of the Qwen2.5-0.5B
// shape in bf16, the two norms no longer keep an fp32 copy of their input (2 x 3.5 KB) and the
// MLP keeps neither silu(gate) nor the product down_proj reads (2 x 9.5 KB): 26 of the ~58 KB a
// layer kept, which is what lets 8,192-token steps run without recomputing whole layers
// (docs/performance.md).

// weight * (x32 * rsqrt(mean(x32^2, -1) + eps)).to(x's dtype), x32 = x in fp32: transformers'
// RMSNorm. Keeps x and the fp32 rsqrt per row, not x32 and the normalised copy.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// {rms_norm(x, weight, eps), x} for a pre-norm layer, whose residual connection reads x beside the
// norm: where cpu_elementwise.h's kernels run, the norm's backward adds the residual path's
// gradient of x in its own pass (autograd added the two in a pass over [tokens, hidden] of its
// own, ~2% of a 2,048-token LoRA step with the residual sums below); the same bits.
std::pair<torch::Tensor, torch::Tensor> rms_norm_and_skip(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// x + branch, a residual connection: in one pass where cpu_elementwise.h's kernels run (cpu_add:
// ATen's bits but for sums below 2^-126, which round to zero; ATen's bf16 add runs at ~12 GB/s),
// its gradient the output's, to both.
torch::Tensor residual_add(const torch::Tensor& x, const torch::Tensor& branch);

// at::linear(x, weight, bias), bias optional, with the weight's gradient from weight_gradient()
// (model/weight_gradient.h): on MKL's path there, within a bf16 rounding of autograd's and closer
// to the exact product; elsewhere at::linear itself. A bf16 CPU weight of more than 4,096 output
// features has its forward product made in two halves of its rows (oneDNN blocks the 0.5B's MLP
// projections faster so, lean_ops.cpp): fp32 sums rounded once, added in another order.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias = {});

// linear(x, weights[i], biases[i]) for linear layers that read the same X (the attention's q, k
// and v projections; the MLP's gate and up), BIASES empty or one per weight; with adapters (AS and
// BS one per weight, SCALING theirs) each layer lora_linear's, without trainable weights. In the
// backward X's gradient is summed inside the products (addmm: autograd added each further layer's
// in a pass over [tokens, in]; adapters' terms first, while small, so no further from the exact
// sum than autograd's, tests/unit/model/lora_test.cpp) and the weights' gradients come from
// weight_gradients()' one product. nullopt where a layer would not take that path (without
// adapters: linear() would be at::linear, not a trainable bf16 weight on MKL's path; with them:
// lora_linear's conditions): the caller runs the layers one by one.
std::optional<std::vector<torch::Tensor>> linears_of_one_input(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                                                               const std::vector<torch::Tensor>& biases,
                                                               const std::vector<torch::Tensor>& As = {},
                                                               const std::vector<torch::Tensor>& Bs = {}, double scaling = 0);

// x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x2, x1) (half split, not interleaved):
// the rotary embedding of x [B, H, T, D], the tables broadcast over B and H. Where
// cpu_elementwise.h's kernels run (bf16, tables of T x D values) it keeps only the tables and
// returns a head-major tensor, the attention kernel's layout; elsewhere the pairs of features in
// X's layout (on a GPU one kernel each way, cuda_elementwise.h; else the composite's bits).
torch::Tensor rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// silu(gate) * up. Keeps gate and up, not silu(gate).
torch::Tensor swiglu(const torch::Tensor& gate, const torch::Tensor& up);

// linear(silu(gate) * up, weight, bias), bias optional: the MLP's down projection of the product.
// Keeps gate and up, not the product (recomputed for the weight's gradient, from weight_gradient()).
torch::Tensor swiglu_linear(const torch::Tensor& gate, const torch::Tensor& up, const torch::Tensor& weight,
                            const torch::Tensor& bias = {});

// at::embedding(weight, ids) whose weight gradient is sparse: only the rows IDS name, each the sum
// of its tokens' gradients taken in fp32 and rounded once (autograd's dense gradient is a
// [vocab, hidden] matrix of zeros with those rows added in the weight's dtype, one token at a time).
// For a weight that also gets a dense gradient, as tied input and output embeddings do: autograd
// sums the two gradients of the one parameter before it stores one, and the sum is dense.
torch::Tensor embedding_rows(const torch::Tensor& weight, const torch::Tensor& ids);

// Whether SCALING is a power of two: multiplying by it commutes with every rounding (barring
// overflow and underflow), so it may move from LoRA's [tokens, out] update to its rank-r product
// and leave peft's bits as they are.
bool scales_exactly(double scaling);

// peft's LoRA layer in a bf16 training step (the Trainer's autocast, no dropout):
// linear(x, weight, bias) + linear(linear(x, A16) * scaling, B16), A16 and B16 the fp32 adapters
// rounded to the base's bf16, SCALING a power of two (applied to A's bf16 copy, which gives the
// same bits as scaling the update). Values and x's gradient are autograd's bits of that
// composite (tests/unit/model/lora_test.cpp; for a base of more than 4,096 output features, with
// its product made as `linear` makes it), with its two sums ([tokens, out] forward, [tokens,
// in] for x's gradient) one pass each (cpu_add) and the pieces' autograd nodes and casts not kept;
// the adapters' gradients too, but where cpu_low_rank.h's product makes them (AMX, rank 32 or 64):
// its fp32 sums rounded to bf16 once, as oneDNN's are, within one bf16 rounding of autograd's. nullopt
// where it does not apply (cpu_elementwise.h's kernels do not run here, a trainable base, a
// scaling that is no power of two): the caller runs the composite.
std::optional<torch::Tensor> lora_linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                         const torch::Tensor& A, const torch::Tensor& B, double scaling);

}  // namespace cotrain
