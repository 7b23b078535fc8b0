#include "cotrain/model/cpu_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/autograd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#if defined(__x86_64__)
#include "amx.h"
#include "avx512.h"

namespace cotrain {
namespace {

using at::BFloat16;
using at::Tensor;
using avx512::exp2_16;
using avx512::first_lanes;
using avx512::load_bf16;
using avx512::to_bf16;
using amx::amx_load_config;
using amx::amx_usable;
using amx::kAmxPairs;
using amx::kAmxRows;
using amx::token_pairs;

constexpr std::int64_t kQueryBlock = 64;  // queries per block: one tile's width
constexpr std::int64_t kKeyBlock = 512;   // the backward's keys per block: their scores (128 KB of fp32) stay in L2
// The forward's keys per block: 64 x 2,048 scores (528 KB) and their probabilities (256 KB) still
// fit in L2, and each query's per-block work (the maximum's and the sum's reductions, the
// rescaling of its sums) is paid a quarter as often as with 512 (the forward 7-10% faster at 2,048
// and 8,192 tokens; 4,096 keys overflow L2 and are slower again).
constexpr std::int64_t kForwardKeyBlock = 2048;
// The forward's rows of scores are this many floats apart, not kForwardKeyBlock: rows a power of
// two apart fall into few of L1's sets, where a 16-row tile store evicts its own lines (the forward
// 6% slower at 8,192 tokens; 27% where malloc's buffers were not 64-byte aligned).
constexpr std::int64_t kScoreStride = kForwardKeyBlock + 16;
constexpr std::int64_t kTileRows = 4, kTileColumns = 64;
constexpr float kMinusInfinity = -std::numeric_limits<float>::infinity();
constexpr float kLog2e = 1.44269504088896341f;

// C[4 x 64] (+)= A B: A is 4 bf16 rows (lda elements apart) of 2 * k2 values; B is k2 x 64
// int32 whose element (p, j) holds the bf16 pair (B'[2p][j], B'[2p+1][j]), the operand layout of
// _mm512_dpbf16_ps (it multiplies pairs and adds both products into one fp32 lane). The 16
// accumulators stay in registers for the whole contraction.
COTRAIN_AVX512_BF16 void tile(const BFloat16* a, std::int64_t lda, const std::int32_t* b, std::int64_t ldb, std::int64_t k2, float* c,
                              std::int64_t ldc, bool accumulate) {
  __m512 acc[kTileRows][4];
  for (auto& row : acc)
    for (auto& x : row) x = _mm512_setzero_ps();
  // Unrolled explicitly: -O2 (RelWithDebInfo) leaves these loops rolled, at a quarter of the speed.
  for (std::int64_t p = 0; p < k2; ++p) {
    __m512i bv[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) bv[j] = _mm512_loadu_si512(b + p * ldb + 16 * j);
#pragma GCC unroll 4
    for (int r = 0; r < kTileRows; ++r) {
      const auto pair = _mm512_set1_epi32(reinterpret_cast<const std::int32_t*>(a + r * lda)[p]);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)pair, (__m512bh)bv[j]);
    }
  }
  for (int r = 0; r < kTileRows; ++r) {
    for (int j = 0; j < 4; ++j) {
      float* out = c + r * ldc + 16 * j;
      auto value = acc[r][j];
      if (accumulate) value = _mm512_add_ps(value, _mm512_loadu_ps(out));
      _mm512_storeu_ps(out, value);
    }
  }
}

// B of a product: rows `ldb` apart, and each 64 columns `panel` apart: a row-major matrix has
// panel = 64, a panel-major one (each 64 columns contiguous over all rows) panel = rows * 64.
struct Operand {
  const std::int32_t* data;
  std::int64_t ldb, panel;
};

// C[m x 32] (+)= A B for a contraction of at most two steps of 16 pairs (head dim 64): B's tiles
// for the 32 columns stay in tiles 4-7 while A's 16-row strips stream through tiles 2-3 and C's
// through 0-1. These products are bound by tile loads, not by the unit: loading B once instead of
// for every strip made the attention backward 5% faster; 16 columns with four strips of C at
// once (more independent products, but A loaded for every 16 columns) made it 20% slower.
COTRAIN_AMX void amx_columns(const BFloat16* a, std::int64_t lda, const std::int32_t* b, std::int64_t ldb, std::int64_t k2, float* c,
                             std::int64_t ldc, std::int64_t m, bool accumulate) {
  const bool two_steps = k2 > kAmxPairs;
  _tile_loadd(4, b, ldb * 4);
  _tile_loadd(5, b + 16, ldb * 4);
  if (two_steps) {
    _tile_loadd(6, b + kAmxPairs * ldb, ldb * 4);
    _tile_loadd(7, b + kAmxPairs * ldb + 16, ldb * 4);
  }
  for (std::int64_t i = 0; i < m; i += kAmxRows) {
    float* c_rows = c + i * ldc;
    const BFloat16* a_rows = a + i * lda;
    if (accumulate) {
      _tile_loadd(0, c_rows, ldc * 4);
      _tile_loadd(1, c_rows + 16, ldc * 4);
    } else {
      _tile_zero(0);
      _tile_zero(1);
    }
    _tile_loadd(2, a_rows, lda * 2);
    _tile_dpbf16ps(0, 2, 4);
    _tile_dpbf16ps(1, 2, 5);
    if (two_steps) {
      _tile_loadd(3, a_rows + 2 * kAmxPairs, lda * 2);
      _tile_dpbf16ps(0, 3, 6);
      _tile_dpbf16ps(1, 3, 7);
    }
    _tile_stored(0, c_rows, ldc * 4);
    _tile_stored(1, c_rows + 16, ldc * 4);
  }
}

// C's tiles are loaded from and stored to C itself: with d = 64 a product has only two steps of
// 16 pairs, and a pass through a buffer cost as much as the products.
COTRAIN_AMX void amx_tile(const BFloat16* a, std::int64_t lda, const std::int32_t* b, std::int64_t ldb, std::int64_t k2, float* c,
                          std::int64_t ldc, bool accumulate) {
  const auto c_stride = ldc * 4;
  if (accumulate) {
    _tile_loadd(0, c, c_stride);
    _tile_loadd(1, c + 16, c_stride);
    _tile_loadd(2, c + 32, c_stride);
    _tile_loadd(3, c + 48, c_stride);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  for (std::int64_t p = 0; p < k2; p += kAmxPairs) {
    const auto* b_rows = b + p * ldb;
    _tile_loadd(4, a + 2 * p, lda * 2);
    _tile_loadd(5, b_rows, ldb * 4);
    _tile_dpbf16ps(0, 4, 5);
    _tile_loadd(6, b_rows + 16, ldb * 4);
    _tile_dpbf16ps(1, 4, 6);
    _tile_loadd(5, b_rows + 32, ldb * 4);
    _tile_dpbf16ps(2, 4, 5);
    _tile_loadd(6, b_rows + 48, ldb * 4);
    _tile_dpbf16ps(3, 4, 6);
  }
  _tile_stored(0, c, c_stride);
  _tile_stored(1, c + 16, c_stride);
  _tile_stored(2, c + 32, c_stride);
  _tile_stored(3, c + 48, c_stride);
}

// C[m x n] (+)= A B tile by tile, in the layouts of `tile`; m a multiple of 4 (of 16 on
// AMX), n of 64 and k2 of 16. A column panel of B is read for every row tile while it is in L1.
void matmul(std::int64_t m, std::int64_t n, std::int64_t k2, const BFloat16* a, std::int64_t lda, Operand b, float* c, std::int64_t ldc,
            bool accumulate) {
  const bool amx = amx_usable();
  // Other code on this thread (oneDNN's AMX kernels) may have loaded its own tile configuration.
  if (amx) amx_load_config();
  const auto rows = amx ? kAmxRows : kTileRows;
  for (std::int64_t j = 0; j < n; j += kTileColumns) {
    if (amx && k2 <= 2 * kAmxPairs) {
      const auto* b_panel = b.data + j / kTileColumns * b.panel;
      for (std::int64_t half = 0; half < kTileColumns; half += 32) {
        amx_columns(a, lda, b_panel + half, b.ldb, k2, c + j + half, ldc, m, accumulate);
      }
      continue;
    }
    for (std::int64_t i = 0; i < m; i += rows) {
      const auto* b_panel = b.data + j / kTileColumns * b.panel;
      if (amx) {
        amx_tile(a + i * lda, lda, b_panel, b.ldb, k2, c + i * ldc + j, ldc, accumulate);
      } else {
        tile(a + i * lda, lda, b_panel, b.ldb, k2, c + i * ldc + j, ldc, accumulate);
      }
    }
  }
}
Operand row_major(const std::int32_t* data, std::int64_t ldb) { return {data, ldb, kTileColumns}; }

// One query's scores scale * s[0, w) of a key block, the first `valid` of them unmasked: folds them
// into the running maximum m and sum l of exponentials, writes p = exp(scale * s - m) in bf16 (0
// where masked), and returns the factor by which the sums so far shrink (the online softmax of
// flash attention). The exponentials are exp2_16's of log2(e) (scale * s - m).
COTRAIN_AVX512_BF16 float softmax_row(const float* s, float scale, std::int64_t w, std::int64_t valid, float& m, float& l, BFloat16* p) {
  // Lanes below `full` are all unmasked (every block but the diagonal one): no masks there.
  const auto full = valid / 16 * 16;
  // Four running maxima: one chain of dependent vmaxps (4 cycles each) made this pass a quarter of
  // the softmax's time; the maximum is the same in any order.
  auto row_max = _mm512_set1_ps(kMinusInfinity), max1 = row_max, max2 = row_max, max3 = row_max;
  std::int64_t j = 0;
  for (; j + 64 <= full; j += 64) {
    row_max = _mm512_max_ps(row_max, _mm512_loadu_ps(s + j));
    max1 = _mm512_max_ps(max1, _mm512_loadu_ps(s + j + 16));
    max2 = _mm512_max_ps(max2, _mm512_loadu_ps(s + j + 32));
    max3 = _mm512_max_ps(max3, _mm512_loadu_ps(s + j + 48));
  }
  row_max = _mm512_max_ps(_mm512_max_ps(row_max, max1), _mm512_max_ps(max2, max3));
  for (; j < full; j += 16) row_max = _mm512_max_ps(row_max, _mm512_loadu_ps(s + j));
  for (; j < w; j += 16) row_max = _mm512_mask_max_ps(row_max, first_lanes(valid - j), row_max, _mm512_loadu_ps(s + j));
  const float new_max = std::max(m, _mm512_reduce_max_ps(row_max) * scale);  // scale > 0: the largest score scales to the largest
  const auto factor = _mm512_set1_ps(scale * kLog2e), shift = _mm512_set1_ps(new_max * kLog2e);
  auto sum = _mm512_setzero_ps();
  // Two vectors at a time (w is a multiple of 64), rounded to bf16 by one instruction.
  j = 0;
  for (; j + 32 <= full; j += 32) {
    const auto e0 = exp2_16(_mm512_fmsub_ps(_mm512_loadu_ps(s + j), factor, shift));
    const auto e1 = exp2_16(_mm512_fmsub_ps(_mm512_loadu_ps(s + j + 16), factor, shift));
    sum = _mm512_add_ps(_mm512_add_ps(sum, e0), e1);
    _mm512_storeu_si512(p + j, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
  }
  for (; j < w; j += 32) {
    const auto e0 = _mm512_maskz_mov_ps(first_lanes(valid - j), exp2_16(_mm512_fmsub_ps(_mm512_loadu_ps(s + j), factor, shift)));
    const auto e1 = _mm512_maskz_mov_ps(first_lanes(valid - j - 16), exp2_16(_mm512_fmsub_ps(_mm512_loadu_ps(s + j + 16), factor, shift)));
    sum = _mm512_add_ps(_mm512_add_ps(sum, e0), e1);
    _mm512_storeu_si512(p + j, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
  }
  // exp(0) is 1 exactly: a maximum that stays (most blocks after the first) needs no exp call.
  const float shrink = m == kMinusInfinity ? 0.f : m == new_max ? 1.f : std::exp(m - new_max);
  l = l * shrink + _mm512_reduce_add_ps(sum);
  m = new_max;
  return shrink;
}

// A query's running sums SUM[0, d) times FACTOR, in place.
COTRAIN_AVX512_BF16 void scale_sums(float* sum, float factor, std::int64_t d) {
  const auto f = _mm512_set1_ps(factor);
  for (std::int64_t i = 0; i < d; i += 16) _mm512_storeu_ps(sum + i, _mm512_mul_ps(_mm512_loadu_ps(sum + i), f));
}

// A query's output row: its sums SUM[0, d) times FACTOR, rounded to bf16.
COTRAIN_AVX512_BF16 void scaled_to_bf16(const float* sum, float factor, std::int64_t d, BFloat16* out) {
  const auto f = _mm512_set1_ps(factor);
  for (std::int64_t i = 0; i < d; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), to_bf16(_mm512_mul_ps(_mm512_loadu_ps(sum + i), f)));
  }
}

// The backward's scores of a key block transposed: st/dpt [w x 64] hold K Q^T and dO V^T for keys
// key0 + j and the block's queries; query c sees key j when c >= j + key_offset (key_offset = first
// key - first query). Writes P^T = exp(scale * st - lse) and scale * dS^T = scale * P^T (dP^T -
// delta) in bf16 rows, and the latter with each two key rows interleaved (the B operand of
// dQ^T = K^T dS^T): the scores' scale is folded into dS before it is rounded, so the products of
// dK and dQ need none.
// Rows [first, last) of score_gradients (below); MASKED: some of their queries do not see them.
template <bool kMasked>
COTRAIN_AVX512_BF16 void score_gradient_rows(const float* st, const float* dpt, float scale, std::int64_t first, std::int64_t last,
                                             std::int64_t key_offset, const float* lse, const float* delta, BFloat16* pt, BFloat16* dst,
                                             std::int32_t* ds_pairs) {
  static_assert(kQueryBlock == 64);
  const auto interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3,
                                           18, 2, 17, 1, 16, 0);
  const auto factor = _mm512_set1_ps(scale), log2_factor = _mm512_set1_ps(scale * kLog2e);
  // Per query: log2(e) lse and scale * delta, so that scale * (dP - delta) is one fused operation
  // (the same value where the scale is a power of two, as for head dims 64 and 256).
  __m512 row_lse[kQueryBlock / 16], row_delta[kQueryBlock / 16];
  for (std::int64_t c = 0; c < kQueryBlock; c += 16) {
    row_lse[c / 16] = _mm512_mul_ps(_mm512_loadu_ps(lse + c), _mm512_set1_ps(kLog2e));
    row_delta[c / 16] = _mm512_mul_ps(_mm512_loadu_ps(delta + c), factor);
  }
  for (std::int64_t j = first; j < last; j += 2) {
    for (std::int64_t c = 0; c < kQueryBlock; c += 16) {
      __m512 p[2], ds[2];
      for (int half = 0; half < 2; ++half) {
        const auto at = (j + half) * kQueryBlock + c;
        p[half] = exp2_16(_mm512_fmsub_ps(_mm512_loadu_ps(st + at), log2_factor, row_lse[c / 16]));
        if constexpr (kMasked) p[half] = _mm512_maskz_mov_ps(static_cast<__mmask16>(~first_lanes(j + half + key_offset - c)), p[half]);
        ds[half] = _mm512_mul_ps(p[half], _mm512_fmsub_ps(_mm512_loadu_ps(dpt + at), factor, row_delta[c / 16]));
      }
      // Rows j and j + 1 rounded by one instruction each (lanes 0-15 row j, 16-31 row j + 1).
      const auto p_rows = (__m512i)_mm512_cvtne2ps_pbh(p[1], p[0]), ds_rows = (__m512i)_mm512_cvtne2ps_pbh(ds[1], ds[0]);
      const auto row = j * kQueryBlock + c;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(pt + row), _mm512_castsi512_si256(p_rows));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(pt + row + kQueryBlock), _mm512_extracti64x4_epi64(p_rows, 1));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + row), _mm512_castsi512_si256(ds_rows));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + row + kQueryBlock), _mm512_extracti64x4_epi64(ds_rows, 1));
      _mm512_storeu_si512(ds_pairs + (j / 2) * kQueryBlock + c, _mm512_permutexvar_epi16(interleave, ds_rows));
    }
  }
}

COTRAIN_AVX512_BF16 void score_gradients(const float* st, const float* dpt, float scale, std::int64_t w, std::int64_t key_offset,
                                         const float* lse, const float* delta, BFloat16* pt, BFloat16* dst, std::int32_t* ds_pairs) {
  // Key rows up to -key_offset are seen by every query of the block: no masks there (their scalar
  // arithmetic per 16 scores was a good part of this kernel's work). Pairs of rows: w is even.
  const auto open = std::clamp<std::int64_t>(-key_offset, 0, w) / 2 * 2;
  score_gradient_rows<false>(st, dpt, scale, 0, open, key_offset, lse, delta, pt, dst, ds_pairs);
  score_gradient_rows<true>(st, dpt, scale, open, w, key_offset, lse, delta, pt, dst, ds_pairs);
}

// A thread's scratch for the kernels: N elements, 64-byte aligned (torch's CPU allocator aligns
// so) whatever malloc does: a tile row that straddles two cache lines costs two.
template <typename T>
struct Scratch {
  Tensor holder;
  T* data;
  explicit Scratch(std::int64_t n)
      : holder(at::empty({n}, at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value))), data(holder.data_ptr<T>()) {}
};

// Q, K, V of one call with their heads flattened: [batch * heads, padded, d], length padded to a
// multiple of the query block with zero rows (padded keys lie after every real query, so the
// causal mask hides them; padded queries are dropped).
struct Shape {
  std::int64_t batch, heads, kv_heads, length, padded, dim;
  std::int64_t rows() const { return batch * heads; }
  std::int64_t kv_of(std::int64_t head) const { return (head / heads) * kv_heads + (head % heads) / (heads / kv_heads); }
};

Tensor padded(const Tensor& x, const Shape& shape) {  // [B, n, T, d] -> [B * n, padded, d]
  if (shape.padded == shape.length) return x.contiguous().view({-1, shape.padded, shape.dim});
  auto y = at::zeros({x.size(0), x.size(1), shape.padded, shape.dim}, x.options());
  y.narrow(2, 0, shape.length).copy_(x);
  return y.view({-1, shape.padded, shape.dim});
}
// As padded, but of any strides where no padding is needed and the batch is one row (the output's
// gradient arrives token-major): feature_pairs and token_pairs lay it out anew anyway.
Tensor padded_any_strides(const Tensor& x, const Shape& shape) {
  if (shape.padded == shape.length && x.size(0) == 1 && x.stride(3) == 1) return x.squeeze(0);
  return padded(x, shape);
}
// 0, STRIDE, ..., 15 STRIDE: the elements' offsets of a 16-lane gather down a column.
COTRAIN_AVX512_BF16 __m512i lane_offsets(std::int64_t stride) {
  return _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(static_cast<int>(stride)));
}

// One panel of feature_pairs: 64 tokens' rows (`stride` int32 pairs apart) as PAIRS rows of 64.
COTRAIN_AVX512_BF16 void feature_pairs_of_panel(const std::int32_t* x, std::int64_t stride, std::int64_t pairs, std::int32_t* out) {
  static_assert(kTileColumns == 64);
  const auto rows = lane_offsets(stride);
  for (std::int64_t f = 0; f < pairs; ++f) {
    for (std::int64_t t = 0; t < kTileColumns; t += 16) {
      _mm512_storeu_si512(out + f * kTileColumns + t, _mm512_i32gather_epi32(rows, x + t * stride + f, 4));
    }
  }
}

// Two tokens' rows of d bf16 as d int32 pairs (a[i], b[i]).
COTRAIN_AVX512_BF16 void token_pairs_of_rows(const BFloat16* a, const BFloat16* b, std::int64_t d, std::int32_t* out) {
  for (std::int64_t i = 0; i < d; i += 32) {
    __m512i low, high;
    amx::pair_rows(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i), low, high);
    _mm512_storeu_si512(out + i, low);
    _mm512_storeu_si512(out + i + 16, high);
  }
}

// [n, T, d] bf16 (rows of d contiguous, any strides; T a multiple of 64, d of 32) -> [n, T / 64,
// d / 2, 64] int32: pairs of features, each token a column, in panels of 64 tokens (a panel's rows
// 256 bytes apart: rows of all T tokens would be T * 4 bytes apart and fall into the same few L1
// sets).
Tensor feature_pairs(const Tensor& x) {
  TORCH_CHECK(x.stride(2) == 1 && x.stride(1) % 2 == 0, "feature_pairs: rows of d contiguous bf16 pairs");
  const auto n = x.size(0), panels = x.size(1) / kTileColumns, pairs = x.size(2) / 2;
  auto out = at::empty({n, panels, pairs, kTileColumns}, x.options().dtype(at::kInt));
  const auto* data = x.data_ptr<BFloat16>();
  auto* pairs_data = out.data_ptr<std::int32_t>();
  at::parallel_for(0, n * panels, 1, [&](std::int64_t begin, std::int64_t end) {
    for (auto item = begin; item < end; ++item) {
      const auto head = item / panels, panel = item % panels;
      const auto* rows = data + head * x.stride(0) + panel * kTileColumns * x.stride(1);
      feature_pairs_of_panel(reinterpret_cast<const std::int32_t*>(rows), x.stride(1) / 2, pairs, pairs_data + item * pairs * kTileColumns);
    }
  });
  return out;
}
// The panels of tokens first..first + 63, ... of feature_pairs for one head.
Operand feature_panels(const std::int32_t* head, std::int64_t d, std::int64_t first) {
  return {head + first / kTileColumns * (d / 2) * kTileColumns, kTileColumns, d / 2 * kTileColumns};
}
}  // namespace

Tensor amx::token_pairs(const Tensor& x) {
  TORCH_CHECK(x.stride(2) == 1, "token_pairs: rows of d contiguous values");
  const auto n = x.size(0), half = x.size(1) / 2, d = x.size(2);
  auto out = at::empty({n, half, d}, x.options().dtype(at::kInt));
  const auto* data = x.data_ptr<BFloat16>();
  auto* pairs_data = out.data_ptr<std::int32_t>();
  at::parallel_for(0, n * half, 256, [&](std::int64_t begin, std::int64_t end) {
    for (auto item = begin; item < end; ++item) {
      const auto* a = data + (item / half) * x.stride(0) + (item % half) * 2 * x.stride(1);
      token_pairs_of_rows(a, a + x.stride(1), d, pairs_data + item * d);
    }
  });
  return out;
}

namespace {

// out [batch, padded, heads, d] bf16, token-major (the output projection's layout, so it needs no
// copy, and neither does the gradient coming back from it), and the log-sum-exp of each query's
// scores [rows, padded] fp32.
std::pair<Tensor, Tensor> forward_pass(const Tensor& q, const Tensor& k, const Tensor& v, const Shape& shape) {
  RECORD_FUNCTION("cotrain::cpu_flash_attention", std::vector<c10::IValue>{q});
  const auto d = shape.dim, padded_length = shape.padded, blocks = padded_length / kQueryBlock;
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  auto k_pairs = feature_pairs(k), v_pairs = token_pairs(v);
  auto out = at::empty({shape.batch, padded_length, shape.heads, d}, q.options());
  auto lse = at::empty({shape.rows(), padded_length}, q.options().dtype(at::kFloat));
  const auto* q_data = q.data_ptr<BFloat16>();
  const auto* k_data = k_pairs.data_ptr<std::int32_t>();
  const auto* v_data = v_pairs.data_ptr<std::int32_t>();
  auto* out_data = out.data_ptr<BFloat16>();
  auto* lse_data = lse.data_ptr<float>();
  at::parallel_for(0, shape.rows() * blocks, 1, [&](std::int64_t begin, std::int64_t end) {
    Scratch<float> scores(kQueryBlock * kScoreStride), sums(kQueryBlock * d);
    Scratch<BFloat16> probabilities(kQueryBlock * kForwardKeyBlock);
    float *s = scores.data, *o = sums.data;
    BFloat16* p = probabilities.data;
    std::vector<float> m(kQueryBlock), l(kQueryBlock);
    for (auto item = begin; item < end; ++item) {
      const auto head = item / blocks, start = (item % blocks) * kQueryBlock, kv = shape.kv_of(head);
      const auto* q_block = q_data + (head * padded_length + start) * d;
      std::fill(m.begin(), m.end(), kMinusInfinity);
      std::fill(l.begin(), l.end(), 0.f);
      std::fill_n(o, kQueryBlock * d, 0.f);
      for (std::int64_t key0 = 0; key0 < start + kQueryBlock; key0 += kForwardKeyBlock) {
        const auto w = std::min(kForwardKeyBlock, start + kQueryBlock - key0);
        matmul(kQueryBlock, w, d / 2, q_block, d, feature_panels(k_data + kv * (d / 2) * padded_length, d, key0), s, kScoreStride, false);
        for (std::int64_t r = 0; r < kQueryBlock; ++r) {
          const auto valid = std::min(w, start + r + 1 - key0);
          const float shrink = softmax_row(&s[r * kScoreStride], scale, w, valid, m[r], l[r], &p[r * kForwardKeyBlock]);
          if (shrink != 1.f) scale_sums(o + r * d, shrink, d);
        }
        matmul(kQueryBlock, d, w / 2, p, kForwardKeyBlock, row_major(v_data + (kv * (padded_length / 2) + key0 / 2) * d, d), o, d, true);
      }
      for (std::int64_t r = 0; r < kQueryBlock; ++r) {
        const float inverse = 1.f / l[r];
        const auto batch = head / shape.heads, token = start + r;
        auto* out_row = out_data + ((batch * padded_length + token) * shape.heads + head % shape.heads) * d;
        scaled_to_bf16(o + r * d, inverse, d, out_row);
        lse_data[head * padded_length + start + r] = m[r] + std::log(l[r]);
      }
    }
  });
  return {out, lse};
}

// delta = rowsum(dO * O) of one head's queries in fp32 (torch's kernel computes it so): the softmax
// backward's subtrahend. Rows of d contiguous values, `stride` apart.
COTRAIN_AVX512_BF16 void query_dots(const BFloat16* grad, std::int64_t grad_stride, const BFloat16* out, std::int64_t out_stride,
                                    std::int64_t length, std::int64_t d, float* delta) {
  for (std::int64_t t = 0; t < length; ++t) {
    auto sum = _mm512_setzero_ps();
    for (std::int64_t i = 0; i < d; i += 16) {
      sum = _mm512_fmadd_ps(load_bf16(grad + t * grad_stride + i, 0xFFFF), load_bf16(out + t * out_stride + i, 0xFFFF), sum);
    }
    delta[t] = _mm512_reduce_add_ps(sum);
  }
}

// delta of every query [rows, padded], 0 for padded ones; GRAD and OUT [B, n, T, d] of any strides
// with d contiguous.
Tensor query_dots(const Tensor& grad, const Tensor& out, const Shape& shape) {
  auto delta = at::zeros({shape.rows(), shape.padded}, grad.options().dtype(at::kFloat));
  const auto* g = grad.data_ptr<BFloat16>();
  const auto* o = out.data_ptr<BFloat16>();
  auto* dots = delta.data_ptr<float>();
  at::parallel_for(0, shape.rows(), 1, [&](std::int64_t begin, std::int64_t end) {
    for (auto row = begin; row < end; ++row) {
      const auto b = row / shape.heads, h = row % shape.heads;
      query_dots(g + b * grad.stride(0) + h * grad.stride(1), grad.stride(2), o + b * out.stride(0) + h * out.stride(1), out.stride(2),
                 shape.length, shape.dim, dots + row * shape.padded);
    }
  });
  return delta;
}

// The sum of GROUP rows of D floats STRIDE apart, added in order, rounded to bf16.
COTRAIN_AVX512_BF16 void group_sum_to_bf16(const float* rows, std::int64_t stride, std::int64_t group, std::int64_t d, BFloat16* out) {
  for (std::int64_t i = 0; i < d; i += 16) {
    auto sum = _mm512_loadu_ps(rows + i);
    for (std::int64_t g = 1; g < group; ++g) sum = _mm512_add_ps(sum, _mm512_loadu_ps(rows + g * stride + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), to_bf16(sum));
  }
}

// A query block's dQ^T [d x 64] fp32 as its 64 rows of d in bf16.
COTRAIN_AVX512_BF16 void dq_rows(const float* dqt, std::int64_t d, BFloat16* dq) {
  static_assert(kQueryBlock == 64);
  const auto features = lane_offsets(kQueryBlock);
  for (std::int64_t c = 0; c < kQueryBlock; ++c) {
    for (std::int64_t i = 0; i < d; i += 16) {
      const auto column = _mm512_i32gather_ps(features, dqt + i * kQueryBlock + c, 4);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dq + c * d + i), to_bf16(column));
    }
  }
}

// dQ [rows, padded, d] bf16 and dK, dV per query head [rows, padded, d] fp32. Each head is one
// thread's work: its key blocks in order, each against the query blocks that see it, with dK and dV
// of the key block in cache (256 KB: with the query blocks outside, all of a head's, 4 MB at 8,192
// tokens, went through memory for every query block) and dQ^T accumulated in fp32 per query block
// (16 KB a pair). Either loop order adds each sum's parts in the same order, so the same bits.
std::tuple<Tensor, Tensor, Tensor> backward_pass(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& grad, const Tensor& lse,
                                                 const Tensor& delta, const Shape& shape) {
  RECORD_FUNCTION("cotrain::cpu_flash_attention_backward", std::vector<c10::IValue>{q});
  const auto d = shape.dim, padded_length = shape.padded;
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  auto q_features = feature_pairs(q), grad_features = feature_pairs(grad), q_tokens = token_pairs(q), grad_tokens = token_pairs(grad);
  auto k_transposed = k.transpose(1, 2).contiguous();
  auto dq = at::empty({shape.rows(), padded_length, d}, q.options());
  auto dk = at::empty({shape.rows(), padded_length, d}, q.options().dtype(at::kFloat)), dv = at::empty_like(dk);
  const auto* qf = q_features.data_ptr<std::int32_t>();
  const auto* gf = grad_features.data_ptr<std::int32_t>();
  const auto* qt = q_tokens.data_ptr<std::int32_t>();
  const auto* gt = grad_tokens.data_ptr<std::int32_t>();
  const auto* k_data = k.data_ptr<BFloat16>();
  const auto* v_data = v.data_ptr<BFloat16>();
  const auto* kt = k_transposed.data_ptr<BFloat16>();
  const auto* lse_data = lse.data_ptr<float>();
  const auto* delta_data = delta.data_ptr<float>();
  auto* dq_data = dq.data_ptr<BFloat16>();
  auto* dk_data = dk.data_ptr<float>();
  auto* dv_data = dv.data_ptr<float>();
  at::parallel_for(0, shape.rows(), 1, [&](std::int64_t begin, std::int64_t end) {
    Scratch<float> st(kKeyBlock * kQueryBlock), dpt(kKeyBlock * kQueryBlock), dqt(d * padded_length);
    Scratch<BFloat16> pt(kKeyBlock * kQueryBlock), dst(kKeyBlock * kQueryBlock);
    Scratch<std::int32_t> ds_pairs(kKeyBlock / 2 * kQueryBlock);
    for (auto head = begin; head < end; ++head) {
      const auto kv = shape.kv_of(head);
      const auto row0 = head * padded_length, kv_row0 = kv * padded_length;
      std::fill_n(dqt.data, d * padded_length, 0.f);  // dQ^T of each query block, [d x 64] after one another
      for (std::int64_t key0 = 0; key0 < padded_length; key0 += kKeyBlock) {
        for (std::int64_t start = key0; start < padded_length; start += kQueryBlock) {  // the query blocks that see key0
          const auto w = std::min(kKeyBlock, start + kQueryBlock - key0);
          float* block_dqt = dqt.data + start * d;
          matmul(w, kQueryBlock, d / 2, k_data + (kv_row0 + key0) * d, d, feature_panels(qf + head * (d / 2) * padded_length, d, start),
                 st.data, kQueryBlock, false);
          matmul(w, kQueryBlock, d / 2, v_data + (kv_row0 + key0) * d, d, feature_panels(gf + head * (d / 2) * padded_length, d, start),
                 dpt.data, kQueryBlock, false);
          score_gradients(st.data, dpt.data, scale, w, key0 - start, lse_data + row0 + start, delta_data + row0 + start, pt.data,
                          dst.data, ds_pairs.data);
          const auto token_offset = (row0 + start) / 2 * d;
          // Inside the key block, the query block's own 64 keys start their sums here (no zeroed
          // buffer to read); the rows before them, and all of them after it, add to earlier sums.
          const auto new_rows = start - key0 < kKeyBlock ? kQueryBlock : 0, old_rows = w - new_rows;
          auto add_or_start = [&](const BFloat16* a, Operand b, float* c) {
            if (old_rows > 0) matmul(old_rows, d, kQueryBlock / 2, a, kQueryBlock, b, c, d, true);
            if (new_rows > 0) matmul(new_rows, d, kQueryBlock / 2, a + old_rows * kQueryBlock, kQueryBlock, b, c + old_rows * d, d, false);
          };
          add_or_start(pt.data, row_major(gt + token_offset, d), dv_data + (row0 + key0) * d);
          add_or_start(dst.data, row_major(qt + token_offset, d), dk_data + (row0 + key0) * d);
          matmul(d, kQueryBlock, w / 2, kt + kv * d * padded_length + key0, padded_length, row_major(ds_pairs.data, kQueryBlock), block_dqt,
                 kQueryBlock, true);
        }
      }
      for (std::int64_t start = 0; start < padded_length; start += kQueryBlock) {
        dq_rows(dqt.data + start * d, d, dq_data + (row0 + start) * d);
      }
    }
  });
  return {dq, dk, dv};
}

// Grouped-query heads: a K/V head's gradient is the sum over the query heads that share it, in
// their order in fp32, rounded to bf16: [B, kv heads, length, d] from per-query-head HEADS [B * heads,
// padded, d], in one pass (ATen's sum and conversion took two, ~1% of a 2,048-token step).
Tensor per_kv_head(const Tensor& heads, const Shape& shape) {
  const auto group = shape.heads / shape.kv_heads, d = shape.dim, head_floats = shape.padded * d;
  auto out = at::empty({shape.batch, shape.kv_heads, shape.length, d}, heads.options().dtype(at::kBFloat16));
  const auto* in = heads.data_ptr<float>();
  auto* out_data = out.data_ptr<BFloat16>();
  at::parallel_for(0, shape.batch * shape.kv_heads * shape.length, 64, [&](std::int64_t begin, std::int64_t end) {
    for (auto row = begin; row < end; ++row) {
      const auto kv_row = row / shape.length, t = row % shape.length;  // kv_row: batch * kv_heads + kv
      group_sum_to_bf16(in + kv_row * group * head_floats + t * d, head_floats, group, d, out_data + row * d);
    }
  });
  return out;
}

Shape shape_of(const Tensor& q, const Tensor& k) {
  const auto length = q.size(2);
  return {q.size(0), q.size(1), k.size(1), length, (length + kQueryBlock - 1) / kQueryBlock * kQueryBlock, q.size(3)};
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The documents of a row (STARTS: cu_seqlens over the tokens) each attend within themselves, the
// kernel run once per document into one output and, backward, one gradient per input: where each
// document was a slice of the row's Q, K and V, autograd gave every slice's gradient a zeroed
// tensor of the whole row (at 8,192 tokens in 8 documents the work around the kernel went from ~17
// to ~10 ms a layer, of ~50 for the kernel).
struct CpuFlashAttentionFunction : torch::autograd::Function<CpuFlashAttentionFunction> {
  static Tensor forward(AutogradContext* ctx, const Tensor& q, const Tensor& k, const Tensor& v, const std::vector<std::int64_t>& starts) {
    const auto documents = starts.size() - 1;
    variable_list saved{q, k, v};
    Tensor out;  // [B, T, heads, d], token-major as the kernel writes it
    for (std::size_t i = 0; i < documents; ++i) {
      const auto start = starts[i], n = starts[i + 1] - starts[i];
      const auto qi = q.narrow(2, start, n), ki = k.narrow(2, start, n), vi = v.narrow(2, start, n);
      const auto shape = shape_of(qi, ki);
      auto [document_out, lse] = forward_pass(padded(qi, shape), padded(ki, shape), padded(vi, shape), shape);
      saved.push_back(lse);
      if (documents == 1) {  // the kernel's own output, no copy
        out = document_out.narrow(1, 0, n);
        break;
      }
      if (!out.defined()) out = at::empty({q.size(0), q.size(2), q.size(1), q.size(3)}, q.options());
      out.narrow(1, start, n).copy_(document_out.narrow(1, 0, n));
    }
    const auto result = out.transpose(1, 2);
    saved.push_back(result);
    ctx->save_for_backward(saved);
    ctx->saved_data["starts"] = starts;
    return result;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto starts = ctx->saved_data["starts"].toIntVector();
    const auto documents = starts.size() - 1;
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &out = saved.back();
    const auto grad = grad_out[0].stride(3) == 1 ? grad_out[0] : grad_out[0].contiguous();
    // One document's gradients: dQ [B, heads, n, d] (a view of the kernel's padded rows), dK, dV.
    auto document = [&](std::size_t i) {
      const auto start = starts[i], n = starts[i + 1] - starts[i];
      const auto qi = q.narrow(2, start, n), ki = k.narrow(2, start, n), vi = v.narrow(2, start, n), gi = grad.narrow(2, start, n);
      const auto shape = shape_of(qi, ki);
      auto [dq, dk_heads, dv_heads] = backward_pass(padded(qi, shape), padded(ki, shape), padded(vi, shape), padded_any_strides(gi, shape),
                                                    saved[3 + i], query_dots(gi, out.narrow(2, start, n), shape), shape);
      return std::array<Tensor, 3>{dq.view({shape.batch, shape.heads, shape.padded, shape.dim}).narrow(2, 0, n), per_kv_head(dk_heads, shape),
                                   per_kv_head(dv_heads, shape)};
    };
    if (documents == 1) {
      auto [dq, dk, dv] = document(0);
      return {dq, dk, dv, Tensor()};
    }
    auto dq = at::empty_like(q, at::MemoryFormat::Contiguous), dk = at::empty_like(k, at::MemoryFormat::Contiguous),
         dv = at::empty_like(v, at::MemoryFormat::Contiguous);
    for (std::size_t i = 0; i < documents; ++i) {
      const auto start = starts[i], n = starts[i + 1] - starts[i];
      const auto grads = document(i);
      dq.narrow(2, start, n).copy_(grads[0]);
      dk.narrow(2, start, n).copy_(grads[1]);
      dv.narrow(2, start, n).copy_(grads[2]);
    }
    return {dq, dk, dv, Tensor()};
  }
};

}  // namespace

bool cpu_flash_attention_runs_here() {
  static const bool runs = __builtin_cpu_supports("avx512bf16");
  return runs;
}

std::optional<Tensor> cpu_flash_attention(const Tensor& q, const Tensor& k, const Tensor& v, const std::vector<std::int64_t>& documents) {
  if (!cpu_flash_attention_runs_here()) return std::nullopt;
  for (const auto* t : {&q, &k, &v}) {
    if (!t->device().is_cpu() || t->scalar_type() != at::kBFloat16 || t->dim() != 4) return std::nullopt;
  }
  const auto d = q.size(3);
  if (d % 64 != 0 || k.sizes() != v.sizes() || k.size(0) != q.size(0) || k.size(2) != q.size(2) || k.size(3) != d || q.size(2) == 0 ||
      q.size(1) % k.size(1) != 0) {
    return std::nullopt;
  }
  const auto starts = documents.empty() ? std::vector<std::int64_t>{0, q.size(2)} : documents;
  if (starts.size() < 2 || starts.front() != 0 || starts.back() != q.size(2)) return std::nullopt;
  for (std::size_t i = 0; i + 1 < starts.size(); ++i) {
    if (starts[i + 1] <= starts[i]) return std::nullopt;  // an empty document: SDPA's path takes it
  }
  return CpuFlashAttentionFunction::apply(q, k, v, starts);
}

}  // namespace cotrain

#else  // the instructions are x86's

namespace cotrain {

bool cpu_flash_attention_runs_here() { return false; }
std::optional<at::Tensor> cpu_flash_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, const std::vector<std::int64_t>&) {
  return std::nullopt;
}

}  // namespace cotrain

#endif
