#include "cotrain/model/cpu_low_rank.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <optional>
#include <vector>

#if defined(__x86_64__)
#include "amx.h"
#include "avx512.h"

namespace cotrain {
namespace {

using at::BFloat16;
using at::Tensor;

constexpr std::int64_t kRows = amx::kAmxRows, kColumns = 32;  // one block of the product: two tiles of C
constexpr std::int64_t kPageBytes = 4096;

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
COTRAIN_AMX void strip(const BFloat16* r, std::int64_t rank, const std::int32_t* b_pairs, std::int64_t out, BFloat16* sum, std::int64_t rows,
                       std::int64_t next_rows) {
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
  // The hardware's prefetcher does not run ahead in the strip's 16 rows of sums (one 64-byte piece
  // of each per block): the sums are asked for ahead of the tiles. Rows shorter than a page: the
  // next strip's (right after this one's), a block's share at a time. Longer rows: this strip's,
  // two blocks ahead (one, three or more, and the next strip's, were slower: docs/performance.md).
  const bool short_rows = out * 2 <= kPageBytes;
  const auto* next = reinterpret_cast<const char*>(sum + kRows * out);
  const auto next_bytes = short_rows ? next_rows * out * 2 : 0, share = (next_bytes / (out / kColumns) + 63) / 64 * 64;
  constexpr std::int64_t kAhead = 2 * kColumns;
  for (std::int64_t j = 0, ahead = 0; j < out; j += kColumns) {
    for (const auto end = std::min(next_bytes, ahead + share); ahead < end; ahead += 64) _mm_prefetch(next + ahead, _MM_HINT_T0);
    if (!short_rows && j + kAhead < out) {
      for (std::int64_t i = 0; i < rows; ++i) _mm_prefetch(reinterpret_cast<const char*>(sum + i * out + j + kAhead), _MM_HINT_T0);
    }
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

constexpr std::int64_t kStep = 2 * amx::kAmxPairs;  // tokens per tile step

// P^T [r, T] as the tiles' A operand: tile (f, s) = rows 16f..16f+15, tokens 32s..32s+31, at
// OUT + (f * steps + s) * 512, zero past T. 16 x 16 blocks, transposed in fp32 (exactly).
COTRAIN_AVX512_BF16 void pack_transposed(const BFloat16* p, std::int64_t ldp, std::int64_t tokens, std::int64_t rank, std::int64_t steps,
                                         BFloat16* out) {
  using avx512::load_bf16;
  using avx512::to_bf16;
  for (std::int64_t t = 0; t < steps * kStep; t += 16) {
    for (std::int64_t f = 0; f < rank; f += 16) {
      __m512 block[16];
      for (std::int64_t k = 0; k < 16; ++k) block[k] = t + k < tokens ? load_bf16(p + (t + k) * ldp + f, 0xFFFF) : _mm512_setzero_ps();
      avx512::transpose16(block);
      auto* tile = out + ((f / 16) * steps + t / kStep) * kRows * kStep + t % kStep;
      for (std::int64_t j = 0; j < 16; ++j) _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + j * kStep), to_bf16(block[j]));
    }
  }
}

constexpr std::int64_t kChunkSteps = 4;  // tile steps (128 tokens) of Q packed at a time

// Tokens [first, first + 32 * chunk_steps) of Q's columns [0, 32 * blocks) (rows ldq apart) as
// the tiles' B operand: tile (block, s, half) = token pairs 16s..16s+15 of the chunk for the
// block's columns 16 half..16 half + 15, at OUT + ((block * chunk_steps + s) * 2 + half) * 256;
// zero past T. Each row is read in order across the blocks, which the prefetcher follows (a block
// at a time would read one 64-byte piece of every row).
COTRAIN_AVX512_BF16 void pack_pairs(const BFloat16* q, std::int64_t ldq, std::int64_t tokens, std::int64_t first, std::int64_t chunk_steps,
                                    std::int64_t blocks, std::int32_t* out) {
  for (std::int64_t t = 0; t < chunk_steps * kStep; t += 2) {
    const auto* a = q + (first + t) * ldq;
    const bool has_a = first + t < tokens, has_b = first + t + 1 < tokens;
    auto* tiles = out + (t / kStep) * 2 * kRows * kRows + (t % kStep) / 2 * kRows;
    for (std::int64_t block = 0; block < blocks; ++block, tiles += chunk_steps * 2 * kRows * kRows) {
      const auto av = has_a ? _mm512_loadu_si512(a + 32 * block) : _mm512_setzero_si512();
      const auto bv = has_b ? _mm512_loadu_si512(a + ldq + 32 * block) : _mm512_setzero_si512();
      __m512i low, high;
      amx::pair_rows(av, bv, low, high);
      _mm512_storeu_si512(tiles, low);
      _mm512_storeu_si512(tiles + kRows * kRows, high);
    }
  }
}

// C[32 x 32] (ldc apart) (+)= the packed A's rows of tiles F, F + 1 over its steps [first_step,
// first_step + chunk_steps) times one block of the packed B.
COTRAIN_AMX void gradient_block(const BFloat16* a, std::int64_t f, std::int64_t steps, std::int64_t first_step, std::int64_t chunk_steps,
                                const std::int32_t* b, float* c, std::int64_t ldc, bool accumulate) {
  if (accumulate) {
    _tile_loadd(0, c, ldc * 4);
    _tile_loadd(1, c + 16, ldc * 4);
    _tile_loadd(2, c + 16 * ldc, ldc * 4);
    _tile_loadd(3, c + 16 * ldc + 16, ldc * 4);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  const auto tile = kRows * kStep;
  for (std::int64_t s = 0; s < chunk_steps; ++s) {
    _tile_loadd(4, a + (f * steps + first_step + s) * tile, kStep * 2);
    _tile_loadd(6, b + 2 * s * kRows * kRows, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, b + (2 * s + 1) * kRows * kRows, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, a + ((f + 1) * steps + first_step + s) * tile, kStep * 2);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, ldc * 4);
  _tile_stored(1, c + 16, ldc * 4);
  _tile_stored(2, c + 16 * ldc, ldc * 4);
  _tile_stored(3, c + 16 * ldc + 16, ldc * 4);
}

// A finished 32 x 32 block of sums C (rows ldc apart) as an adapter's gradient: each sum times
// SCALE rounded to bf16 (cpu_scaled_bf16's bits) and widened back, in place, or with OUT_T into
// OUT_T's rows (ldt apart) transposed: while the block is in L1, not in passes over the result.
COTRAIN_AVX512_BF16 void round_block(float* c, std::int64_t ldc, float scale, float* out_t, std::int64_t ldt) {
  const auto factor = _mm512_set1_ps(scale);
  for (std::int64_t i = 0; i < 32; i += 16) {
    for (std::int64_t j = 0; j < 32; j += 16) {
      __m512 block[16];
      for (std::int64_t k = 0; k < 16; ++k) {
        auto* row = c + (i + k) * ldc + j;
        block[k] = avx512::round_bf16(_mm512_mul_ps(_mm512_loadu_ps(row), factor));
        if (out_t == nullptr) _mm512_storeu_ps(row, block[k]);
      }
      if (out_t == nullptr) continue;
      avx512::transpose16(block);
      for (std::int64_t k = 0; k < 16; ++k) _mm512_storeu_ps(out_t + (j + k) * ldt + i, block[k]);
    }
  }
}

struct Rounding {
  float scale;
  bool transposed;
};

// P^T Q [r, n] fp32, or with ROUNDING its rounded form ([n, r] where transposed).
Tensor low_rank_gradient(const Tensor& p, const Tensor& q, std::optional<Rounding> rounding) {
  const auto tokens = p.size(0), rank = p.size(1), n = q.size(1), steps = (tokens + kStep - 1) / kStep;
  auto out = at::empty({rank, n}, p.options().dtype(at::kFloat));
  const bool transposed = rounding && rounding->transposed;
  auto result = transposed ? at::empty({n, rank}, out.options()) : out;
  if (steps == 0) return result.zero_();
  auto a = at::empty({rank * steps * kStep}, p.options());
  pack_transposed(p.data_ptr<BFloat16>(), p.stride(0), tokens, rank, steps, a.data_ptr<BFloat16>());
  const auto* a_data = a.data_ptr<BFloat16>();
  const auto* q_data = q.data_ptr<BFloat16>();
  auto* out_data = out.data_ptr<float>();
  auto* result_data = result.data_ptr<float>();
  // Each thread its columns, token chunk by chunk: the chunk's pairs of its columns (~300 KB at
  // n = 4,864) and its [r, columns] sums stay in L2.
  at::parallel_for(0, n / 32, 1, [&](std::int64_t begin, std::int64_t end) {
    amx::amx_load_config();
    auto b = at::empty({(end - begin) * kChunkSteps * 2 * kRows * kRows}, q.options().dtype(at::kInt));
    auto* b_data = b.data_ptr<std::int32_t>();
    for (std::int64_t first_step = 0; first_step < steps; first_step += kChunkSteps) {
      const auto chunk_steps = std::min(kChunkSteps, steps - first_step);
      const bool last = first_step + chunk_steps == steps;
      pack_pairs(q_data + 32 * begin, q.stride(0), tokens, first_step * kStep, chunk_steps, end - begin, b_data);
      for (auto block = begin; block < end; ++block) {
        for (std::int64_t f = 0; f < rank / kRows; f += 2) {
          auto* sums = out_data + f * kRows * n + 32 * block;
          gradient_block(a_data, f, steps, first_step, chunk_steps, b_data + (block - begin) * chunk_steps * 2 * kRows * kRows, sums, n,
                         /*accumulate=*/first_step > 0);
          if (last && rounding) round_block(sums, n, rounding->scale, transposed ? result_data + 32 * block * rank + f * kRows : nullptr, rank);
        }
      }
    }
  });
  return result;
}

// One 16-row strip of X W^T into C [16 x r] fp32 (r 32 or 64): X's rows (ldx apart, K values)
// are A's tiles as they lie, W^T's pairs [K / 2, r] B's. The strip's 16 rows are 16 streams a
// 64-byte piece at a time: asked for two steps ahead, as cpu_add_low_rank_product_'s sums are.
COTRAIN_AMX void rank_strip(const BFloat16* x, std::int64_t ldx, std::int64_t k, const std::int32_t* pairs, std::int64_t r, float* c) {
  constexpr std::int64_t kAhead = 2 * kStep;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const bool wide = r == 64;
  for (std::int64_t step = 0; step < k; step += kStep) {
    if (step + kAhead < k) {
      for (std::int64_t i = 0; i < kRows; ++i) _mm_prefetch(reinterpret_cast<const char*>(x + i * ldx + step + kAhead), _MM_HINT_T0);
    }
    const auto* b = pairs + step / 2 * r;
    _tile_loadd(4, x + step, ldx * 2);
    _tile_loadd(5, b, r * 4);
    _tile_dpbf16ps(0, 4, 5);
    _tile_loadd(6, b + 16, r * 4);
    _tile_dpbf16ps(1, 4, 6);
    if (wide) {
      _tile_loadd(7, b + 32, r * 4);
      _tile_dpbf16ps(2, 4, 7);
      _tile_loadd(5, b + 48, r * 4);
      _tile_dpbf16ps(3, 4, 5);
    }
  }
  _tile_stored(0, c, r * 4);
  _tile_stored(1, c + 16, r * 4);
  if (wide) {
    _tile_stored(2, c + 32, r * 4);
    _tile_stored(3, c + 48, r * 4);
  }
}

// X [rows, cols] int32 (contiguous; both multiples of 16) into OUT [cols, rows], 16 x 16 blocks
// through registers: ATen's transposing copy of these matrices ran at ~4 GB/s.
COTRAIN_AVX512_BF16 void transposed_words(const std::int32_t* x, std::int64_t rows, std::int64_t cols, std::int32_t* out) {
  for (std::int64_t i = 0; i < rows; i += 16) {
    for (std::int64_t j = 0; j < cols; j += 16) {
      __m512 block[16];
      for (std::int64_t k = 0; k < 16; ++k) block[k] = _mm512_castsi512_ps(_mm512_loadu_si512(x + (i + k) * cols + j));
      avx512::transpose16(block);
      for (std::int64_t k = 0; k < 16; ++k) _mm512_storeu_si512(out + (j + k) * rows + i, _mm512_castps_si512(block[k]));
    }
  }
}

// M [K, n] (K even, n a multiple of 32, any strides) as the tile unit's B operand, [K / 2, n] int32:
// element (p, j) holds M's (2p, j) and (2p + 1, j). Where M's columns are contiguous (a LoRA
// layer's B^T, or A^T) each pair lies side by side already, and this is M^T's int32 view
// transposed: one copy of 4 bytes a pair.
Tensor pairs_of_rows(const Tensor& m) {
  if (m.stride(0) != 1) return amx::token_pairs(m.contiguous().unsqueeze(0)).squeeze(0);
  const auto words = m.t().contiguous().view(at::kInt);  // [n, K / 2]: the callers' K and n are multiples of 32
  TORCH_CHECK(words.size(0) % 16 == 0 && words.size(1) % 16 == 0, "pairs_of_rows: ", m.sizes(), " not in 32 x 32 blocks");
  auto out = at::empty({words.size(1), words.size(0)}, words.options());
  transposed_words(words.data_ptr<std::int32_t>(), words.size(0), words.size(1), out.data_ptr<std::int32_t>());
  return out;
}

// OUT[i] = bf16(C[i]) for N fp32 sums, N a multiple of 16.
COTRAIN_AVX512_BF16 void rounded_rows(const float* c, std::int64_t n, BFloat16* out) {
  for (std::int64_t i = 0; i < n; i += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), avx512::to_bf16(_mm512_loadu_ps(c + i)));
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
  RECORD_FUNCTION("cotrain::cpu_add_low_rank_product_", std::vector<c10::IValue>{sum, r_in});  // named in --profile traces
  const auto r = r_in.contiguous(), b_pairs = pairs_of_rows(b);  // [rank / 2, out]
  const auto n = sum.size(0), rank = r.size(1), out = sum.size(1);
  const auto* r_data = r.data_ptr<BFloat16>();
  const auto* b_data = b_pairs.data_ptr<std::int32_t>();
  auto* sum_data = sum.data_ptr<BFloat16>();
  at::parallel_for(0, (n + kRows - 1) / kRows, 1, [&](std::int64_t begin, std::int64_t end) {
    amx::amx_load_config();
    for (auto s = begin; s < end; ++s) {
      const auto first = s * kRows;
      strip(r_data + first * rank, rank, b_data, out, sum_data + first * out, std::min(kRows, n - first),
            std::clamp<std::int64_t>(n - first - kRows, 0, kRows));
    }
  });
}

bool cpu_rank_product_applies(const Tensor& x, const Tensor& w) {
  for (const auto* t : {&x, &w}) {
    if (!t->device().is_cpu() || t->scalar_type() != at::kBFloat16 || t->dim() != 2) return false;
  }
  const auto r = w.size(0);
  return amx::amx_usable() && (r == 32 || r == 64) && x.stride(1) == 1 && w.size(1) == x.size(1) && x.size(1) % kStep == 0;
}

Tensor cpu_rank_product(const Tensor& x, const Tensor& w) {
  TORCH_CHECK(cpu_rank_product_applies(x, w), "cpu_rank_product: operands it does not take");
  RECORD_FUNCTION("cotrain::cpu_rank_product", std::vector<c10::IValue>{x, w});
  const auto n = x.size(0), k = x.size(1), r = w.size(0);
  const auto pairs = pairs_of_rows(w.t());  // [K / 2, r]
  auto out = at::empty({n, r}, x.options());
  const auto* x_data = x.data_ptr<BFloat16>();
  const auto* pairs_data = pairs.data_ptr<std::int32_t>();
  auto* out_data = out.data_ptr<BFloat16>();
  const auto ldx = x.stride(0);
  at::parallel_for(0, (n + kRows - 1) / kRows, 1, [&](std::int64_t begin, std::int64_t end) {
    amx::amx_load_config();
    alignas(64) float c[kRows * 64];
    std::vector<BFloat16> padded;  // a ragged last strip's rows, zero below them
    for (auto s = begin; s < end; ++s) {
      const auto first = s * kRows, rows = std::min(kRows, n - first);
      const auto* strip_rows = x_data + first * ldx;
      auto ld = ldx;
      if (rows < kRows) {
        padded.assign(static_cast<std::size_t>(kRows * k), BFloat16(0.f));
        for (std::int64_t i = 0; i < rows; ++i) std::copy(strip_rows + i * ldx, strip_rows + i * ldx + k, padded.data() + i * k);
        strip_rows = padded.data();
        ld = k;
      }
      rank_strip(strip_rows, ld, k, pairs_data, r, c);
      rounded_rows(c, rows * r, out_data + first * r);
    }
  });
  return out;
}

bool cpu_low_rank_gradient_applies(const Tensor& p, const Tensor& q) {
  for (const auto* t : {&p, &q}) {
    if (!t->device().is_cpu() || t->scalar_type() != at::kBFloat16 || t->dim() != 2 || t->stride(1) != 1) return false;
  }
  const auto rank = p.size(1);
  return amx::amx_usable() && (rank == 32 || rank == 64) && p.size(0) == q.size(0) && q.size(1) % 32 == 0;
}

Tensor cpu_low_rank_gradient(const Tensor& p, const Tensor& q) {
  TORCH_CHECK(cpu_low_rank_gradient_applies(p, q), "cpu_low_rank_gradient: operands it does not take");
  RECORD_FUNCTION("cotrain::cpu_low_rank_gradient", std::vector<c10::IValue>{p, q});  // named in --profile traces
  return low_rank_gradient(p, q, std::nullopt);
}

Tensor cpu_low_rank_gradient_rounded(const Tensor& p, const Tensor& q, float scale, bool transposed) {
  TORCH_CHECK(cpu_low_rank_gradient_applies(p, q), "cpu_low_rank_gradient_rounded: operands it does not take");
  RECORD_FUNCTION("cotrain::cpu_low_rank_gradient_rounded", std::vector<c10::IValue>{p, q});
  return low_rank_gradient(p, q, Rounding{scale, transposed});
}

}  // namespace cotrain

#else  // the instructions are x86's

namespace cotrain {

bool cpu_low_rank_sum_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return false; }
void cpu_add_low_rank_product_(const at::Tensor&, const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AMX"); }
bool cpu_rank_product_applies(const at::Tensor&, const at::Tensor&) { return false; }
at::Tensor cpu_rank_product(const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AMX"); }
bool cpu_low_rank_gradient_applies(const at::Tensor&, const at::Tensor&) { return false; }
at::Tensor cpu_low_rank_gradient(const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AMX"); }
at::Tensor cpu_low_rank_gradient_rounded(const at::Tensor&, const at::Tensor&, float, bool) { TORCH_CHECK(false, "no AMX"); }

}  // namespace cotrain

#endif
