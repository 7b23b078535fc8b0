#include "cotrain/model/cpu_low_rank.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>

#if defined(__x86_64__)
#include "amx.h"
#include "avx512.h"

namespace cotrain {
namespace {

using at::BFloat16;
using at::Tensor;

constexpr std::int64_t kRows = amx::kAmxRows, kColumns = 32;  // one block of the product: two tiles of C

// One block's sums: rows of SUM (ld apart) at columns 0..31 = bf16(SUM + bf16(C)), C [16 x 32] fp32.
COTRAIN_AVX512_BF16 void add_block(const float* c, BFloat16* sum, std::int64_t ld, std::int64_t rows) {
  using avx512::load_bf16;
  using avx512::round_bf16;
  for (std::int64_t i = 0; i < rows; ++i) {
    auto* row = sum + i * ld;
    const auto* block = c + i * kColumns;
    const auto low = _mm512_add_ps(load_bf16(row, 0xFFFF), round_bf16(_mm512_loadu_ps(block)));
    const auto high = _mm512_add_ps(load_bf16(row + 16, 0xFFFF), round_bf16(_mm512_loadu_ps(block + 16)));
    _mm512_storeu_si512(row, (__m512i)_mm512_cvtne2ps_pbh(high, low));
  }
}

// Rows [first, first + rows) of the sum, rows <= 16: A's tiles (R's rows, K = rank) stay loaded
// while B's and C's go through the columns 32 at a time. R is read from a 16-row copy where fewer
// rows remain, so no tile reads past its end.
COTRAIN_AMX void strip(const BFloat16* r, std::int64_t rank, const std::int32_t* b_pairs, std::int64_t out, BFloat16* sum, std::int64_t rows) {
  alignas(64) float c[kRows * kColumns];
  alignas(64) BFloat16 padded[kRows * 64];
  if (rows < kRows) {
    std::fill(padded, padded + kRows * rank, BFloat16(0.f));
    std::copy(r, r + rows * rank, padded);
    r = padded;
  }
  const bool two_steps = rank > 2 * amx::kAmxPairs;
  _tile_loadd(2, r, rank * 2);
  if (two_steps) _tile_loadd(3, r + 2 * amx::kAmxPairs, rank * 2);
  for (std::int64_t j = 0; j < out; j += kColumns) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_loadd(4, b_pairs + j, out * 4);
    _tile_loadd(5, b_pairs + j + 16, out * 4);
    _tile_dpbf16ps(0, 2, 4);
    _tile_dpbf16ps(1, 2, 5);
    if (two_steps) {
      _tile_loadd(6, b_pairs + amx::kAmxPairs * out + j, out * 4);
      _tile_loadd(7, b_pairs + amx::kAmxPairs * out + j + 16, out * 4);
      _tile_dpbf16ps(0, 3, 6);
      _tile_dpbf16ps(1, 3, 7);
    }
    _tile_stored(0, c, kColumns * 4);
    _tile_stored(1, c + 16, kColumns * 4);
    add_block(c, sum + j, out, rows);
  }
}

}  // namespace

bool cpu_low_rank_sum_applies(const Tensor& sum, const Tensor& r, const Tensor& b) {
  for (const auto* t : {&sum, &r, &b}) {
    if (!t->device().is_cpu() || t->scalar_type() != at::kBFloat16 || t->dim() != 2) return false;
  }
  const auto rank = r.size(1);
  return amx::amx_usable() && (rank == 32 || rank == 64) && b.size(0) == rank && sum.size(0) == r.size(0) && sum.size(1) == b.size(1) &&
         sum.size(1) % kColumns == 0 && sum.is_contiguous();
}

void cpu_add_low_rank_product_(const Tensor& sum, const Tensor& r_in, const Tensor& b) {
  TORCH_CHECK(cpu_low_rank_sum_applies(sum, r_in, b), "cpu_add_low_rank_product_: operands it does not take");
  const auto r = r_in.contiguous(), b_pairs = amx::token_pairs(b.contiguous().unsqueeze(0)).squeeze(0);  // [rank / 2, out]
  const auto n = sum.size(0), rank = r.size(1), out = sum.size(1);
  const auto* r_data = r.data_ptr<BFloat16>();
  const auto* b_data = b_pairs.data_ptr<std::int32_t>();
  auto* sum_data = sum.data_ptr<BFloat16>();
  at::parallel_for(0, (n + kRows - 1) / kRows, 1, [&](std::int64_t begin, std::int64_t end) {
    amx::amx_load_config();
    for (auto s = begin; s < end; ++s) {
      const auto first = s * kRows;
      strip(r_data + first * rank, rank, b_data, out, sum_data + first * out, std::min(kRows, n - first));
    }
  });
}

}  // namespace cotrain

#else  // the instructions are x86's

namespace cotrain {

bool cpu_low_rank_sum_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return false; }
void cpu_add_low_rank_product_(const at::Tensor&, const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AMX"); }

}  // namespace cotrain

#endif
