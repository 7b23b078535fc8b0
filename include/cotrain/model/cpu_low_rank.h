// A LoRA layer's sum of its base output and its rank-r product, in one pass on CPUs with AMX:
// sum = bf16(sum + bf16(r b)) in place. Made apart, the product [tokens, out] is written to memory
// and read back by the sum, and its rank-r contraction leaves the tile unit waiting on those
// writes (~500 GFLOP/s at rank 64); here each 16 x 32 block of the product goes from the tiles into
// the sum while it is in L1 (docs/performance.md). The roundings are the composite's (the product
// rounded to bf16, then the sum), and the product's fp32 sums are the tile unit's, as in oneDNN's
// bf16 matmul of the same operands.
#pragma once
#include <ATen/core/Tensor.h>

namespace cotrain {

// Whether cpu_add_low_rank_product_ runs here for these tensors: an AMX CPU; SUM [n, out], R [n,
// rank] and B [rank, out] (any strides) bf16 on the CPU; rank 32 or 64; out a multiple of 32.
bool cpu_low_rank_sum_applies(const at::Tensor& sum, const at::Tensor& r, const at::Tensor& b);

// SUM = bf16(SUM + bf16(R B)) in place; SUM contiguous.
void cpu_add_low_rank_product_(const at::Tensor& sum, const at::Tensor& r, const at::Tensor& b);

// A LoRA layer's rank-r products X W^T, W [r, K]: x A^T forward, and grad B (W = B^T) for the
// gradients. oneDNN's bf16 matmul runs them at ~1,000 GFLOP/s ([2,048, 4,864] x [4,864, 64], ~1.2
// ms: X read from memory, and its blocking for so few columns); here each 16-row strip of X is
// the tile unit's A operand as it lies, W^T's pairs packed once, the strip's rows asked for ahead.
// The fp32 sums are the tile unit's over K in order, rounded to bf16 once, as oneDNN's product is.
//
// Whether cpu_rank_product runs here: an AMX CPU; X [T, K] and W [r, K] bf16 on the CPU, X's rows
// contiguous (any stride between them), W any strides, r 32 or 64, K a multiple of 32.
bool cpu_rank_product_applies(const at::Tensor& x, const at::Tensor& w);

// X W^T, [T, r] bf16.
at::Tensor cpu_rank_product(const at::Tensor& x, const at::Tensor& w);

// A LoRA layer's adapter gradients are products summed over the tokens with a rank-r side:
// grad_A = (grad B)^T x and grad_B^T = (x A^T)^T grad, each P^T Q with P [tokens, r]. oneDNN's bf16
// matmul takes the transposed operand at ~550 GFLOP/s there (a tenth of a LoRA step at 2,048
// tokens); here P^T is packed once into the tile unit's A operand, and Q's rows are paired into its
// B operand 128 tokens and all of a thread's columns at a time, read in order, while the pairs and
// the thread's sums stay in L2 (docs/performance.md). The sums are fp32, in the tile unit's order:
// within fp32 rounding of oneDNN's, which the composite then rounds to bf16.
//
// Whether cpu_low_rank_gradient runs here: an AMX CPU; P [T, r] and Q [T, n] bf16 on the CPU with
// contiguous columns (rows any stride), r 32 or 64, n a multiple of 32.
bool cpu_low_rank_gradient_applies(const at::Tensor& p, const at::Tensor& q);

// P^T Q, [r, n] fp32.
at::Tensor cpu_low_rank_gradient(const at::Tensor& p, const at::Tensor& q);

// P^T Q as an adapter's gradient in fp32: each sum times SCALE rounded to bf16 (cpu_scaled_bf16's
// bits, cpu_elementwise.h) and widened back, [r, n], or with TRANSPOSED [n, r]. Made as each block
// of sums is finished: the rounding pass and the transposing copy it replaces were ~0.8% of a LoRA
// step (docs/performance.md).
at::Tensor cpu_low_rank_gradient_rounded(const at::Tensor& p, const at::Tensor& q, float scale, bool transposed);

}  // namespace cotrain
