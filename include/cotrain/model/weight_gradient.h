// The weight-gradient products of training, A^T B summed over the tokens: a linear layer's
// grad^T input, and the LM head's (softmax - one-hot)^T hidden in the fused loss; and the loss's
// A B with fp32 sums.
//
// On an AMX CPU, torch's bf16 matmul (oneDNN) runs these with the tokens as the contraction at
// 1,000-1,300 GFLOP/s against 2,000-2,700 for the forward's products of the same shapes, and the
// loss then added each bf16 part into its fp32 head gradient in a separate pass (together ~450
// GFLOP/s). MKL's cblas_gemm_bf16bf16f32, which libtorch's x86 builds carry and export, takes the
// transposed operand as it lies and writes or adds fp32 results directly: 1,650-1,880 GFLOP/s on
// the decoder's shapes (2-thread Xeon, docs/performance.md). The fused loss also sums its
// gradient of the hidden states over the vocabulary's blocks with it (product_into). It is
// used where the CPU has AMX (where it was measured faster) and libtorch exports it; elsewhere
// the products are torch's as before. Where the CPU also has AVX-512 BF16, a linear layer's weight
// gradient of a non-square weight is oneDNN's product of GRAD^T made contiguous first (by
// cpu_transpose, at memory speed: oneDNN's slow case was the transposed operand, not the shape).
#pragma once
#include <torch/types.h>

#include <vector>

namespace cotrain {

// True when bf16 products below run on MKL's bf16 GEMM in this process.
bool mkl_bf16_products_here();

// OUT = A^T B, or OUT += A^T B when ACCUMULATE. A [k, m] and B [k, n] of one dtype, OUT [m, n]
// fp32 with rows contiguous (a view of a larger tensor's rows is fine). On MKL's path the product
// is accumulated and stored in fp32; otherwise it is torch's matmul in the inputs' dtype, then
// converted (for bf16 inputs that rounds each product to bf16 before the sum).
void transposed_product_into(const torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b, bool accumulate);

// OUT = A B, or OUT += A B when ACCUMULATE: A [m, k], B [k, n], OUT [m, n] as above. The fused
// loss's gradient of the hidden states, summed over the vocabulary's blocks in fp32.
void product_into(const torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b, bool accumulate);

// The weight gradient of y = x W^T from rows GRAD [k, out] and INPUT [k, in]: GRAD^T INPUT, [out, in]
// in GRAD's dtype. On an AMX CPU, fp32 sums rounded once (MKL's product, or oneDNN's of GRAD
// transposed first where out != in); elsewhere autograd's own formula (INPUT^T GRAD, transposed),
// the same bits.
torch::Tensor weight_gradient(const torch::Tensor& grad, const torch::Tensor& input);

// The weight gradients of linear layers that read the same INPUT [k, in]: GRADS[i]^T INPUT, [out_i,
// in] each. On an AMX CPU one oneDNN product of all of them, their rows transposed one after the
// other into one [sum of out_i, k] matrix (the attention's q, k and v projections: one product of
// 1,152 rows instead of a square one on MKL and two of 128 rows that ran at a third of the speed);
// the results are views of its rows. Elsewhere weight_gradient() each.
std::vector<torch::Tensor> weight_gradients(const std::vector<torch::Tensor>& grads, const torch::Tensor& input);

}  // namespace cotrain
