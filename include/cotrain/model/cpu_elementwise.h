// The decoder's element-wise pieces (RMSNorm, the SwiGLU product, the rotary embedding, a sum) as
// one pass each over bf16 rows on CPUs with AVX-512 BF16, forward and backward. ATen's composites
// make 5-10 passes, each reading and writing the whole activation, half of them converting bf16 to
// fp32 and back: on the 0.5B shape they cost more of a bf16 training step than the attention
// kernel (docs/performance.md). The arithmetic is the composite's in fp32 with the bf16 roundings
// at the same places (lean_ops.h), so the results differ from autograd's only in the order of the
// sums over a row or over the rows: within a bf16 rounding.
#pragma once
#include <ATen/core/Tensor.h>

namespace cotrain {

// Whether the kernels run here (this CPU has AVX-512 BF16) for these tensors (bf16, on the CPU);
// for none, whether they run here at all.
bool cpu_elementwise_applies(std::initializer_list<const at::Tensor*> tensors);

// weight * bf16(x32 * inv_rms) and inv_rms = rsqrt(mean(x32^2, -1) + eps) per row, fp32 [..., 1];
// x [..., H], weight [H].
std::pair<at::Tensor, at::Tensor> cpu_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// The gradients of cpu_rms_norm for x and weight (those NEEDED; the others undefined), from GRAD
// of its output and the forward's inv_rms. With SKIP (x's gradient along another path, of x's
// shape: a residual connection's) x's is the sum of the two, rounded as autograd adds them.
std::pair<at::Tensor, at::Tensor> cpu_rms_norm_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight,
                                                        const at::Tensor& inv_rms, bool need_x, bool need_weight,
                                                        const at::Tensor& skip = {});

// bf16(bf16(silu(gate)) * up).
at::Tensor cpu_swiglu(const at::Tensor& gate, const at::Tensor& up);

// From GRAD of the SwiGLU product: the product itself (for a weight gradient downstream) and the
// gradients of gate and up, each only where NEEDED.
struct SwigluBackward {
  at::Tensor product, grad_gate, grad_up;
};
SwigluBackward cpu_swiglu_backward(const at::Tensor& grad, const at::Tensor& gate, const at::Tensor& up, bool need_product, bool need_gate,
                                   bool need_up);

// The rotary embedding x * cos + rotate_half(x) * sin of x [B, H, T, D] (any strides) with tables cos, sin [T, D] (any shape of T * D values), or with TRANSPOSED the
// gradient of x from the output's gradient x: rotate_half's transpose in place of rotate_half.
// The result [B, H, T, D] lies head-major (contiguous) when HEAD_MAJOR, token-major otherwise (a
// transposed view of [B, T, H, D], the layout of the projection a query or key comes from).
at::Tensor cpu_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool transposed, bool head_major);

// bf16(a + b) of two bf16 tensors of one shape: ATen's bits (but for sums below 2^-126, which
// round to zero), in one pass at memory speed where ATen's bf16 add computes at ~12 GB/s.
at::Tensor cpu_add(const at::Tensor& a, const at::Tensor& b);

// bf16(x * scale) of fp32 X (any shape) in one pass: ATen's bits for x.mul(scale).to(bf16) (but
// for products below 2^-126, which round to zero), where those are two passes over the fp32 (the
// head's gradient of Qwen's vocabulary is 545 MB of it).
at::Tensor cpu_scaled_bf16(const at::Tensor& x, float scale);

// X [rows, cols] (bf16, rows any stride) transposed into a contiguous [cols, rows]: the same
// values, at memory speed where ATen's bf16 transposing copy runs ~10x slower.
at::Tensor cpu_transpose(const at::Tensor& x);
// The same into OUT [cols, rows], bf16 with contiguous rows of any stride (rows of a larger matrix).
void cpu_transpose_into(const at::Tensor& x, const at::Tensor& out);

// The fused loss's softmax over one block of the vocabulary at a time (model/loss.cpp), on logits
// [n, w] in bf16 as the head's product rounds them (rows any stride). The exponentials are
// avx512.h's exp2_16 of (logit - shift) log2(e): within 2e-7 of exp, never below 2^-126 (the
// probabilities are rounded to bf16, the sums' relative error stays ~2e-7), ~30% fewer
// instructions than exp16, on which both passes wait (docs/performance.md):
// folds each row's logits into its running maximum MAX and sum of exponentials SUM ([n] fp32), as
// the online softmax does (log-sum-exp = max + log(sum) once every block is folded in),
void cpu_fold_logsumexp(const at::Tensor& logits, const at::Tensor& max, const at::Tensor& sum);
// and turns them in place into the gradient of the summed NLL: bf16(exp(logit - lse) - 1[column
// == target]) with TARGET_COLUMNS [n] int64 the target's column in this block or -1, and rows
// whose VALID [n] fp32 is 0 (no target) zeroed.
void cpu_softmax_gradient_(const at::Tensor& logits, const at::Tensor& lse, const at::Tensor& target_columns, const at::Tensor& valid);
// Where the head takes no gradient (one pass over the vocabulary, the gradient's normalization
// left to the caller): folds them as cpu_fold_logsumexp does and writes over them in place
// exp(logit - max) in bf16, MAX the row's new running maximum; where a row's maximum moved, its row
// of SUMS ([n, hidden] fp32, contiguous: the earlier blocks' exponentials times the head; undefined
// for the first block) shrinks as its SUM does.
void cpu_fold_exponentials_(const at::Tensor& logits, const at::Tensor& max, const at::Tensor& sum, const at::Tensor& sums);

}  // namespace cotrain
