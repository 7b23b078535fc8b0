#include "cotrain/model/weight_gradient.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <cstdint>
#include <cstdlib>
#include <limits>

#include "cotrain/model/cpu_elementwise.h"

// MKL's CBLAS declaration, with its enums and MKL_INT (32-bit in the LP64 interface libtorch
// links) as plain ints. Weak: a libtorch without MKL leaves it null and the products stay torch's.
extern "C" void cblas_gemm_bf16bf16f32(int layout, int transa, int transb, int m, int n, int k, float alpha, const std::uint16_t* a,
                                       int lda, const std::uint16_t* b, int ldb, float beta, float* c, int ldc) __attribute__((weak));

namespace cotrain {
namespace {

// MKL's memory manager keeps the buffers its GEMM packs operands into, per thread, for the life of
// the process: with the fused loss's products (model/loss.cpp) that held 260 MB more at the
// 2,048-token step's peak, for no measured speed. Set before MKL's first call (MKL reads it then);
// a value the user set is kept.
[[maybe_unused]] const bool mkl_buffers_freed = setenv("MKL_DISABLE_FAST_MM", "1", /*overwrite=*/0) == 0;

}  // namespace

bool mkl_bf16_products_here() {
#if defined(__x86_64__)
  static const bool here = cblas_gemm_bf16bf16f32 != nullptr && __builtin_cpu_supports("amx-bf16");
  return here;
#else
  return false;
#endif
}

namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;  // CBLAS_LAYOUT, CBLAS_TRANSPOSE

bool fits_int(std::int64_t v) { return v <= std::numeric_limits<int>::max(); }

// Row-major with unit column stride, every size and row stride within MKL_INT.
bool mkl_matrix(const torch::Tensor& t) {
  return t.dim() == 2 && t.stride(1) == 1 && t.stride(0) >= std::max<std::int64_t>(1, t.size(1)) && fits_int(t.size(0)) &&
         fits_int(t.size(1)) && fits_int(t.stride(0));
}

// A product of these operands runs on MKL's GEMM here.
bool on_mkl(const torch::Tensor& a, const torch::Tensor& b) {
  return mkl_bf16_products_here() && a.device().is_cpu() && b.device().is_cpu() && a.scalar_type() == torch::kBFloat16 &&
         b.scalar_type() == torch::kBFloat16 && mkl_matrix(a) && mkl_matrix(b) && a.numel() > 0 && b.numel() > 0;
}

// OUT (+)= op(A) B with op(A) = A^T when TRANSPOSE_A: on MKL where it can, else torch's matmul.
void product(const torch::Tensor& out, const torch::Tensor& a, bool transpose_a, const torch::Tensor& b, bool accumulate) {
  const auto m = transpose_a ? a.size(1) : a.size(0), k = transpose_a ? a.size(0) : a.size(1);
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && b.size(0) == k && out.sizes() == torch::IntArrayRef({m, b.size(1)}), "matrix product: shapes ",
              a.sizes(), transpose_a ? "^T" : "", " x ", b.sizes(), " into ", out.sizes());
  if (on_mkl(a, b) && out.device().is_cpu() && out.scalar_type() == torch::kFloat32 && mkl_matrix(out)) {
    // Named in --profile traces (benchmarks/train_step.cpp), which see only ATen's operators otherwise.
    RECORD_FUNCTION(transpose_a ? "mkl::gemm_bf16bf16f32 A^T" : "mkl::gemm_bf16bf16f32", std::vector<c10::IValue>{a, b});
    cblas_gemm_bf16bf16f32(kRowMajor, transpose_a ? kTrans : kNoTrans, kNoTrans, static_cast<int>(m), static_cast<int>(b.size(1)),
                           static_cast<int>(k), 1.0f, reinterpret_cast<const std::uint16_t*>(a.data_ptr()), static_cast<int>(a.stride(0)),
                           reinterpret_cast<const std::uint16_t*>(b.data_ptr()), static_cast<int>(b.stride(0)), accumulate ? 1.0f : 0.0f,
                           out.data_ptr<float>(), static_cast<int>(out.stride(0)));
    return;
  }
  const auto result = at::mm(transpose_a ? a.t() : a, b);
  accumulate ? out.add_(result) : out.copy_(result);
}

// oneDNN's product runs GRAD^T INPUT with GRAD^T as its rows (made by cpu_transpose at memory
// speed) faster than MKL's with GRAD as it lies, fp32 sums rounded once either way, except where
// the weight is square (the query and output projections): per product over 2,048 tokens, cold,
// 2 threads (docs/performance.md), [4,864, 896] 8.5-8.7 ms against 9.8-10.0 for MKL and its
// conversion, [896, 4,864] the same, [128, 896] 0.50 against 0.65, Qwen2.5-1.5B's [8,960, 1,536]
// 23.7 against 25.2, [1,536, 8,960] 21.8 against 24.6; [896, 896] 3.3 against 2.4, [1,536,
// 1,536] 4.5 against 4.4.
// For operands already on MKL's path (an AMX CPU).
bool transposes_first(const torch::Tensor& grad, const torch::Tensor& input) {
  return grad.size(1) != input.size(1) && cpu_elementwise_applies({&grad, &input});
}

}  // namespace

void transposed_product_into(const torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b, bool accumulate) {
  product(out, a, /*transpose_a=*/true, b, accumulate);
}

void product_into(const torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b, bool accumulate) {
  product(out, a, /*transpose_a=*/false, b, accumulate);
}

torch::Tensor weight_gradient(const torch::Tensor& grad, const torch::Tensor& input) {
  if (on_mkl(grad, input)) {
    if (transposes_first(grad, input)) return at::mm(cpu_transpose(grad), input);
    auto out = torch::empty({grad.size(1), input.size(1)}, grad.options().dtype(torch::kFloat32));
    transposed_product_into(out, grad, input, /*accumulate=*/false);
    return out.to(grad.scalar_type());
  }
  return input.t().mm(grad).t();
}

std::vector<torch::Tensor> weight_gradients(const std::vector<torch::Tensor>& grads, const torch::Tensor& input) {
  std::int64_t rows = 0;
  bool joint = on_mkl(input, input) && cpu_elementwise_applies({&input});
  for (const auto& g : grads) {
    joint = joint && on_mkl(g, input) && g.size(0) == input.size(0);
    rows += g.size(1);
  }
  std::vector<torch::Tensor> out;
  if (!joint) {
    for (const auto& g : grads) out.push_back(weight_gradient(g, input));
    return out;
  }
  auto transposed = torch::empty({rows, input.size(0)}, input.options());
  std::int64_t first = 0;
  for (const auto& g : grads) {
    cpu_transpose_into(g, transposed.narrow(0, first, g.size(1)));
    first += g.size(1);
  }
  // oneDNN (torch 2.13, 2 threads) runs [1,152, k] x [k, 896], the 0.5B's q, k and v projections,
  // at 930-1,220 GFLOP/s for k from 2,048 to 16,384 tokens and each half of its rows at 1,740-2,270;
  // 832 rows and fewer, and 2,048 (the 1.5B's), run fast whole. So the rows between are made in
  // two products.
  auto all = torch::empty({rows, input.size(1)}, input.options());
  const auto part = rows > 832 && rows < 2048 ? (rows / 2 + 63) / 64 * 64 : rows;
  for (std::int64_t row = 0; row < rows; row += part) {
    const auto n = std::min(part, rows - row);
    auto rows_out = all.narrow(0, row, n);
    at::mm_out(rows_out, transposed.narrow(0, row, n), input);
  }
  first = 0;
  for (const auto& g : grads) {
    out.push_back(all.narrow(0, first, g.size(1)));
    first += g.size(1);
  }
  return out;
}

}  // namespace cotrain
