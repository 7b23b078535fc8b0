#include "cotrain/model/cpu_elementwise.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#if defined(__x86_64__)
#include "avx512.h"
#include "cotrain/core/prefetch.h"

namespace cotrain {
namespace {

using at::BFloat16;
using at::Tensor;
using namespace avx512;

constexpr std::int64_t kRowBlock = 64;         // rows per task, and per partial sum of a weight's gradient
constexpr std::int64_t kElementBlock = 16384;  // elements per task of the SwiGLU passes
// The SwiGLU passes ask for their inputs 1,024 elements ahead (2,048-token step: forward 61 -> 49-54
// ms, backward 109-114 -> 105-107; 2,048 or 4,096 ahead no better).
constexpr std::int64_t kStreamAhead = 1024;

COTRAIN_AVX512_BF16 void rms_norm_rows(const BFloat16* x, const BFloat16* weight, std::int64_t rows, std::int64_t h, float eps,
                                       BFloat16* out, float* inv_rms) {
  for (std::int64_t r = 0; r < rows; ++r, x += h, out += h) {
    auto squares = _mm512_setzero_ps();
    for (std::int64_t j = 0; j < h; j += 16) {
      const auto v = load_bf16(x + j, first_lanes(h - j));
      squares = _mm512_fmadd_ps(v, v, squares);
    }
    const float inv = 1.f / std::sqrt(_mm512_reduce_add_ps(squares) / static_cast<float>(h) + eps);
    inv_rms[r] = inv;
    const auto factor = _mm512_set1_ps(inv);
    for (std::int64_t j = 0; j < h; j += 16) {
      const auto lanes = first_lanes(h - j);
      const auto normed = round_bf16(_mm512_mul_ps(load_bf16(x + j, lanes), factor));
      store_bf16(out + j, _mm512_mul_ps(load_bf16(weight + j, lanes), normed), lanes);
    }
  }
}

// autograd's formulas for the composite (lean_ops.cpp) per row: grad_normed = bf16(grad * weight),
// grad_mean = -0.5 * sum(grad_normed * x) * inv_rms^3, grad_x = grad_normed * inv_rms +
// grad_mean / h * 2x; the weight's gradient sum(grad * bf16(x * inv_rms)) over the rows added
// into WEIGHT_SUMS [h] fp32.
COTRAIN_AVX512_BF16 void rms_norm_backward_rows(const BFloat16* grad, const BFloat16* x, const BFloat16* weight, const float* inv_rms,
                                                const BFloat16* skip, std::int64_t rows, std::int64_t h, BFloat16* grad_x, float* weight_sums) {
  for (std::int64_t r = 0; r < rows; ++r, grad += h, x += h) {
    const auto factor = _mm512_set1_ps(inv_rms[r]);
    if (weight_sums) {
      for (std::int64_t j = 0; j < h; j += 16) {
        const auto lanes = first_lanes(h - j);
        const auto normed = round_bf16(_mm512_mul_ps(load_bf16(x + j, lanes), factor));
        _mm512_mask_storeu_ps(weight_sums + j, lanes,
                              _mm512_fmadd_ps(load_bf16(grad + j, lanes), normed, _mm512_maskz_loadu_ps(lanes, weight_sums + j)));
      }
    }
    if (!grad_x) continue;
    auto dot = _mm512_setzero_ps();
    for (std::int64_t j = 0; j < h; j += 16) {
      const auto lanes = first_lanes(h - j);
      const auto grad_normed = round_bf16(_mm512_mul_ps(load_bf16(grad + j, lanes), load_bf16(weight + j, lanes)));
      dot = _mm512_fmadd_ps(grad_normed, load_bf16(x + j, lanes), dot);
    }
    const float inv = inv_rms[r];
    const float grad_mean = -0.5f * _mm512_reduce_add_ps(dot) * (inv * inv * inv);
    const auto twice_grad_square = _mm512_set1_ps(2.f * (grad_mean / static_cast<float>(h)));
    for (std::int64_t j = 0; j < h; j += 16) {
      const auto lanes = first_lanes(h - j);
      const auto grad_normed = round_bf16(_mm512_mul_ps(load_bf16(grad + j, lanes), load_bf16(weight + j, lanes)));
      auto value = _mm512_fmadd_ps(twice_grad_square, load_bf16(x + j, lanes), _mm512_mul_ps(grad_normed, factor));
      if (skip) value = _mm512_add_ps(round_bf16(value), load_bf16(skip + r * h + j, lanes));  // as autograd adds the two rounded gradients
      store_bf16(grad_x + r * h + j, value, lanes);
    }
  }
}

// silu(g) = g / (1 + e^-g) and the sigmoid 1 / (1 + e^-g), as ATen computes them in fp32.
struct Silu {
  __m512 value, sigmoid;
};
COTRAIN_AVX512_BF16 inline Silu silu(__m512 g) {
  const auto one = _mm512_set1_ps(1.f);
  const auto denominator = _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), g)));
  return {_mm512_div_ps(g, denominator), _mm512_div_ps(one, denominator)};
}

// bf16(silu(g)) and the sigmoid for each of the 65,536 bf16 gates, by their bits, made once by
// silu() itself: a lookup has the arithmetic's bits without its exponential and divisions, which
// bounded the SwiGLU passes (docs/performance.md).
struct SiluTables {
  std::vector<float> activated = std::vector<float>(65536), sigmoid = std::vector<float>(65536);
};

COTRAIN_AVX512_BF16 SiluTables make_silu_tables() {
  SiluTables tables;
  const auto lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (std::int32_t bits = 0; bits < 65536; bits += 16) {
    const auto s = silu(widen_bf16_bits(_mm512_add_epi32(_mm512_set1_epi32(bits), lane)));
    _mm512_storeu_ps(tables.activated.data() + bits, round_bf16(s.value));
    _mm512_storeu_ps(tables.sigmoid.data() + bits, s.sigmoid);
  }
  return tables;
}

const SiluTables& silu_tables() {
  static const SiluTables tables = make_silu_tables();
  return tables;
}

COTRAIN_AVX512_BF16 void swiglu_elements(const BFloat16* gate, const BFloat16* up, std::int64_t n, const SiluTables& silu, BFloat16* out) {
  for (std::int64_t i = 0; i < n; i += 16) {
    ask_ahead<_MM_HINT_T0, kStreamAhead>(gate, i);
    ask_ahead<_MM_HINT_T0, kStreamAhead>(up, i);
    const auto lanes = first_lanes(n - i);
    const auto activated = _mm512_i32gather_ps(load_bf16_bits(gate + i, lanes), silu.activated.data(), 4);
    store_bf16(out + i, _mm512_mul_ps(activated, load_bf16(up + i, lanes)), lanes);
  }
}

COTRAIN_AVX512_BF16 void add_elements(const BFloat16* a, const BFloat16* b, std::int64_t n, BFloat16* out) {
  for (std::int64_t i = 0; i < n; i += 16) {
    const auto lanes = first_lanes(n - i);
    store_bf16(out + i, _mm512_add_ps(load_bf16(a + i, lanes), load_bf16(b + i, lanes)), lanes);
  }
}

COTRAIN_AVX512_BF16 void scaled_elements(const float* x, float scale, std::int64_t n, BFloat16* out) {
  const auto factor = _mm512_set1_ps(scale);
  for (std::int64_t i = 0; i < n; i += 16) {
    const auto lanes = first_lanes(n - i);
    store_bf16(out + i, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, x + i), factor), lanes);
  }
}

// 16 bf16 values (those of LANES; 0 elsewhere) as the low halves of 16 32-bit lanes, and back:
// moves of bits, which no floating-point rule (denormals flushed, NaNs quietened) touches.
COTRAIN_AVX512_BF16 inline __m512 load_bits(const BFloat16* p, __mmask16 lanes) { return _mm512_castsi512_ps(load_bf16_bits(p, lanes)); }
COTRAIN_AVX512_BF16 inline __m256i narrow_bits(__m512 v) { return _mm512_cvtepi32_epi16(_mm512_castps_si512(v)); }

// OUT [cols, rows] (row stride LDO) = X [rows, cols]^T (row stride LDX) for input rows
// [first, last): blocks of 32 x 32, each four 16 x 16 blocks transposed in 32-bit lanes. The
// input's rows are read in order, 32 of them side by side (a strip down all the rows made every
// 64-byte read a cache miss with its own page: half the speed), and each output row gets 64
// bytes per block, streamed past the caches where they form a whole aligned line.
COTRAIN_AVX512_BF16 void transpose_rows(const BFloat16* x, std::int64_t ldx, std::int64_t cols, std::int64_t first, std::int64_t last,
                                        BFloat16* out, std::int64_t ldo) {
  for (std::int64_t i = first; i < last; i += 32) {
    const bool whole = i + 32 <= last;
    for (std::int64_t j = 0; j < cols; j += 32) {
      __m512 block[2][2][16];  // [row half][column half]
      for (int rh = 0; rh < 2; ++rh) {
        for (int ch = 0; ch < 2; ++ch) {
          const auto lanes = first_lanes(cols - j - 16 * ch);
          for (std::int64_t k = 0; k < 16; ++k) {
            const auto r = i + 16 * rh + k;
            block[rh][ch][k] = r < last ? load_bits(x + r * ldx + j + 16 * ch, lanes) : _mm512_setzero_ps();
          }
          transpose16(block[rh][ch]);
        }
      }
      for (int ch = 0; ch < 2; ++ch) {
        for (std::int64_t k = 0; k < 16 && j + 16 * ch + k < cols; ++k) {
          auto* o = out + (j + 16 * ch + k) * ldo + i;
          if (whole) {
            const auto line = _mm512_inserti64x4(_mm512_castsi256_si512(narrow_bits(block[0][ch][k])), narrow_bits(block[1][ch][k]), 1);
            if (reinterpret_cast<std::uintptr_t>(o) % 64 == 0) _mm512_stream_si512(reinterpret_cast<__m512i*>(o), line);
            else _mm512_storeu_si512(o, line);
          } else {
            _mm256_mask_storeu_epi16(o, first_lanes(last - i), narrow_bits(block[0][ch][k]));
            _mm256_mask_storeu_epi16(o + 16, first_lanes(last - i - 16), narrow_bits(block[1][ch][k]));
          }
        }
      }
    }
  }
}

// autograd's formulas: grad_up = grad * bf16(silu(g)), grad_gate = silu_backward(bf16(grad * up), g)
// = bf16(grad * up) * sigmoid * (1 + g (1 - sigmoid)). Null outputs are not computed.
COTRAIN_AVX512_BF16 void swiglu_backward_elements(const BFloat16* grad, const BFloat16* gate, const BFloat16* up, std::int64_t n,
                                                  const SiluTables& silu, BFloat16* product, BFloat16* grad_gate, BFloat16* grad_up) {
  const auto one = _mm512_set1_ps(1.f);
  for (std::int64_t i = 0; i < n; i += 16) {
    ask_ahead<_MM_HINT_T0, kStreamAhead>(grad, i);
    ask_ahead<_MM_HINT_T0, kStreamAhead>(gate, i);
    ask_ahead<_MM_HINT_T0, kStreamAhead>(up, i);
    const auto lanes = first_lanes(n - i);
    const auto bits = load_bf16_bits(gate + i, lanes);  // the tables' indices
    const auto u = load_bf16(up + i, lanes), dy = load_bf16(grad + i, lanes);
    const auto activated = _mm512_i32gather_ps(bits, silu.activated.data(), 4);
    if (product) store_bf16(product + i, _mm512_mul_ps(activated, u), lanes);
    if (grad_up) store_bf16(grad_up + i, _mm512_mul_ps(dy, activated), lanes);
    if (grad_gate) {
      const auto g = widen_bf16_bits(bits), sigmoid = _mm512_i32gather_ps(bits, silu.sigmoid.data(), 4);
      const auto grad_silu = round_bf16(_mm512_mul_ps(dy, u));
      const auto slope = _mm512_fmadd_ps(g, _mm512_sub_ps(one, sigmoid), one);
      store_bf16(grad_gate + i, _mm512_mul_ps(_mm512_mul_ps(grad_silu, sigmoid), slope), lanes);
    }
  }
}

// One head's rotary embedding, the composite's roundings (lean_ops.h): with x = (x1, x2) its halves,
// out = (bf16(bf16(x1 cos1) - bf16(x2 sin1)), bf16(bf16(x2 cos2) + bf16(x1 sin2))); the backward
// (TRANSPOSED) rotates the other way: (bf16(bf16(g1 cos1) + bf16(g2 sin2)), bf16(bf16(g2 cos2) -
// bf16(g1 sin1))).
COTRAIN_AVX512_BF16 void rotary_head(const BFloat16* x, const BFloat16* cos, const BFloat16* sin, std::int64_t half, bool transposed,
                                     BFloat16* out) {
  for (std::int64_t i = 0; i < half; i += 16) {
    const auto lanes = first_lanes(half - i);
    const auto x1 = load_bf16(x + i, lanes), x2 = load_bf16(x + half + i, lanes);
    const auto cos1 = load_bf16(cos + i, lanes), cos2 = load_bf16(cos + half + i, lanes);
    const auto sin1 = load_bf16(sin + i, lanes), sin2 = load_bf16(sin + half + i, lanes);
    const auto first = round_bf16(_mm512_mul_ps(x1, cos1)), second = round_bf16(_mm512_mul_ps(x2, cos2));
    const auto from_x1 = round_bf16(_mm512_mul_ps(x1, transposed ? sin1 : sin2));
    const auto from_x2 = round_bf16(_mm512_mul_ps(x2, transposed ? sin2 : sin1));
    store_bf16(out + i, transposed ? _mm512_add_ps(first, from_x2) : _mm512_sub_ps(first, from_x2), lanes);
    store_bf16(out + half + i, transposed ? _mm512_sub_ps(second, from_x1) : _mm512_add_ps(second, from_x1), lanes);
  }
}

// The softmax passes over the loss's logits ask for the row two ahead as they go: rows of 8 KB a
// stride apart start a new page every row, where the hardware's prefetcher starts over (the
// softmax gradient 89 -> 37 ms, the fold 47 -> 41 ms a 2,048-token step).
constexpr std::int64_t kRowsAhead = 2;

// Each row's logits folded into its running maximum MAX and sum of exponentials SUM; with
// kExponentials also the exponentials written over the logits in bf16 (the shift the row's new
// maximum), and where that maximum moved, the row of SUMS (HIDDEN fp32: the earlier blocks'
// exponentials times the head; null for the first block) scaled as its sum of exponentials is.
template <bool kExponentials>
COTRAIN_AVX512_BF16 void fold_rows(BFloat16* logits, std::int64_t n, std::int64_t w, std::int64_t ld, float* max, float* sum, float* sums,
                                   std::int64_t hidden) {
  for (std::int64_t r = 0; r < n; ++r, logits += ld) {
    auto row_max = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (std::int64_t j = 0; j < w; j += 16) {
      const auto lanes = first_lanes(w - j);
      ask_ahead<kExponentials ? _MM_HINT_ET0 : _MM_HINT_T0, 0>(logits + kRowsAhead * ld, j);
      row_max = _mm512_mask_max_ps(row_max, lanes, row_max, load_bf16(logits + j, lanes));
    }
    const float new_max = std::max(max[r], _mm512_reduce_max_ps(row_max));
    const auto shift = _mm512_set1_ps(new_max), log2e = _mm512_set1_ps(std::numbers::log2e_v<float>);
    auto exponentials = _mm512_setzero_ps();
    for (std::int64_t j = 0; j < w; j += 16) {
      const auto lanes = first_lanes(w - j);
      const auto e = _mm512_maskz_mov_ps(lanes, exp2_16(_mm512_mul_ps(_mm512_sub_ps(load_bf16(logits + j, lanes), shift), log2e)));
      exponentials = _mm512_add_ps(exponentials, e);
      if constexpr (kExponentials) store_bf16(logits + j, e, lanes);
    }
    const float shrink = max[r] == -std::numeric_limits<float>::infinity() ? 0.f : max[r] == new_max ? 1.f : std::exp(max[r] - new_max);
    sum[r] = sum[r] * shrink + _mm512_reduce_add_ps(exponentials);
    max[r] = new_max;
    if (!kExponentials || sums == nullptr || shrink == 1.f) continue;
    const auto factor = _mm512_set1_ps(shrink);
    auto* row = sums + r * hidden;
    for (std::int64_t i = 0; i < hidden; i += 16) {
      const auto lanes = first_lanes(hidden - i);
      _mm512_mask_storeu_ps(row + i, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, row + i), factor));
    }
  }
}

COTRAIN_AVX512_BF16 void softmax_gradient_rows(BFloat16* logits, std::int64_t n, std::int64_t w, std::int64_t ld, const float* lse,
                                               const std::int64_t* target_columns, const float* valid) {
  for (std::int64_t r = 0; r < n; ++r, logits += ld) {
    if (valid[r] == 0.f) {
      std::fill(logits, logits + w, BFloat16(0.f));
      continue;
    }
    const auto column = target_columns[r];
    const float target = column >= 0 ? std::exp(static_cast<float>(logits[column]) - lse[r]) - 1.f : 0.f;
    const auto shift = _mm512_set1_ps(lse[r]), log2e = _mm512_set1_ps(std::numbers::log2e_v<float>);
    for (std::int64_t j = 0; j < w; j += 16) {
      const auto lanes = first_lanes(w - j);
      ask_ahead<_MM_HINT_ET0, 0>(logits + kRowsAhead * ld, j);
      store_bf16(logits + j, exp2_16(_mm512_mul_ps(_mm512_sub_ps(load_bf16(logits + j, lanes), shift), log2e)), lanes);
    }
    if (column >= 0) logits[column] = BFloat16(target);
  }
}

BFloat16* data_or_null(const Tensor& t) { return t.defined() ? t.data_ptr<BFloat16>() : nullptr; }

}  // namespace

bool cpu_elementwise_applies(std::initializer_list<const at::Tensor*> tensors) {
  static const bool runs = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl");
  if (!runs) return false;
  for (const auto* t : tensors) {
    if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != at::kBFloat16) return false;
  }
  return true;
}

std::pair<Tensor, Tensor> cpu_rms_norm(const Tensor& x_in, const Tensor& weight_in, double eps) {
  RECORD_FUNCTION("cotrain::cpu_rms_norm", std::vector<c10::IValue>{x_in});
  const auto x = x_in.contiguous(), weight = weight_in.contiguous();
  const auto h = x.size(-1), rows = x.numel() / h;
  auto out = at::empty(x.sizes(), x.options());
  auto inv_sizes = x.sizes().vec();
  inv_sizes.back() = 1;
  auto inv_rms = at::empty(inv_sizes, x.options().dtype(at::kFloat));
  const auto *x_data = x.data_ptr<BFloat16>(), *w_data = weight.data_ptr<BFloat16>();
  auto* out_data = out.data_ptr<BFloat16>();
  auto* inv_data = inv_rms.data_ptr<float>();
  at::parallel_for(0, rows, kRowBlock, [&](std::int64_t begin, std::int64_t end) {
    rms_norm_rows(x_data + begin * h, w_data, end - begin, h, static_cast<float>(eps), out_data + begin * h, inv_data + begin);
  });
  return {out, inv_rms};
}

std::pair<Tensor, Tensor> cpu_rms_norm_backward(const Tensor& grad_in, const Tensor& x_in, const Tensor& weight_in, const Tensor& inv_in,
                                                bool need_x, bool need_weight, const Tensor& skip_in) {
  RECORD_FUNCTION("cotrain::cpu_rms_norm_backward", std::vector<c10::IValue>{grad_in});
  const auto grad = grad_in.contiguous(), x = x_in.contiguous(), weight = weight_in.contiguous(), inv_rms = inv_in.contiguous();
  const auto skip = skip_in.defined() ? skip_in.contiguous() : Tensor();
  TORCH_CHECK(!skip.defined() || skip.sizes() == x.sizes(), "cpu_rms_norm_backward: a skip gradient of x's shape");
  const auto h = x.size(-1), rows = x.numel() / h, blocks = (rows + kRowBlock - 1) / kRowBlock;
  Tensor grad_x = need_x ? at::empty(x.sizes(), x.options()) : Tensor();
  // One partial sum per block of rows, added in order: the same bits on any number of threads.
  std::vector<float> partial(need_weight ? blocks * h : 0, 0.f);
  at::parallel_for(0, blocks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (auto b = begin; b < end; ++b) {
      const auto first = b * kRowBlock, count = std::min(kRowBlock, rows - first);
      rms_norm_backward_rows(grad.data_ptr<BFloat16>() + first * h, x.data_ptr<BFloat16>() + first * h, weight.data_ptr<BFloat16>(),
                             inv_rms.data_ptr<float>() + first, skip.defined() ? skip.data_ptr<BFloat16>() + first * h : nullptr, count, h,
                             need_x ? grad_x.data_ptr<BFloat16>() + first * h : nullptr,
                             need_weight ? partial.data() + b * h : nullptr);
    }
  });
  Tensor grad_weight;
  if (need_weight) {
    auto sums = at::zeros({h}, x.options().dtype(at::kFloat));
    auto* total = sums.data_ptr<float>();
    for (std::int64_t b = 0; b < blocks; ++b) {
      for (std::int64_t j = 0; j < h; ++j) total[j] += partial[b * h + j];
    }
    grad_weight = sums.to(weight.scalar_type()).view(weight_in.sizes());
  }
  return {grad_x, grad_weight};
}

Tensor cpu_swiglu(const Tensor& gate_in, const Tensor& up_in) {
  RECORD_FUNCTION("cotrain::cpu_swiglu", std::vector<c10::IValue>{gate_in});
  const auto gate = gate_in.contiguous(), up = up_in.contiguous();
  auto out = at::empty(gate.sizes(), gate.options());
  const auto& silu = silu_tables();
  at::parallel_for(0, gate.numel(), kElementBlock, [&](std::int64_t begin, std::int64_t end) {
    swiglu_elements(gate.data_ptr<BFloat16>() + begin, up.data_ptr<BFloat16>() + begin, end - begin, silu, out.data_ptr<BFloat16>() + begin);
  });
  return out;
}

Tensor cpu_add(const Tensor& a_in, const Tensor& b_in) {
  RECORD_FUNCTION("cotrain::cpu_add", std::vector<c10::IValue>{a_in});
  TORCH_CHECK(a_in.sizes() == b_in.sizes(), "cpu_add: shapes ", a_in.sizes(), " and ", b_in.sizes());
  const auto a = a_in.contiguous(), b = b_in.contiguous();
  auto out = at::empty(a.sizes(), a.options());
  at::parallel_for(0, a.numel(), kElementBlock, [&](std::int64_t begin, std::int64_t end) {
    add_elements(a.data_ptr<BFloat16>() + begin, b.data_ptr<BFloat16>() + begin, end - begin, out.data_ptr<BFloat16>() + begin);
  });
  return out;
}

Tensor cpu_scaled_bf16(const Tensor& x_in, float scale) {
  RECORD_FUNCTION("cotrain::cpu_scaled_bf16", std::vector<c10::IValue>{x_in});
  TORCH_CHECK(x_in.scalar_type() == at::kFloat && x_in.device().is_cpu(), "cpu_scaled_bf16: fp32 on the CPU");
  const auto x = x_in.contiguous();
  auto out = at::empty(x.sizes(), x.options().dtype(at::kBFloat16));
  at::parallel_for(0, x.numel(), kElementBlock, [&](std::int64_t begin, std::int64_t end) {
    scaled_elements(x.data_ptr<float>() + begin, scale, end - begin, out.data_ptr<BFloat16>() + begin);
  });
  return out;
}

Tensor cpu_transpose(const Tensor& x) {
  auto out = at::empty({x.size(1), x.size(0)}, x.options());
  cpu_transpose_into(x, out);
  return out;
}

void cpu_transpose_into(const Tensor& x, const Tensor& out) {
  RECORD_FUNCTION("cotrain::cpu_transpose", std::vector<c10::IValue>{x});
  TORCH_CHECK(x.dim() == 2 && x.stride(1) == 1, "cpu_transpose: a matrix with contiguous rows, got strides ", x.strides());
  const auto rows = x.size(0), cols = x.size(1);
  TORCH_CHECK(out.sizes() == at::IntArrayRef({cols, rows}) && out.stride(1) == 1 && out.scalar_type() == x.scalar_type(),
              "cpu_transpose: into [", cols, ", ", rows, "] with contiguous rows, got ", out.sizes(), " strides ", out.strides());
  if (x.numel() == 0) return;
  at::parallel_for(0, (rows + 31) / 32, 1, [&](std::int64_t begin, std::int64_t end) {
    transpose_rows(x.data_ptr<BFloat16>(), x.stride(0), cols, begin * 32, std::min(rows, end * 32), out.data_ptr<BFloat16>(), out.stride(0));
    _mm_sfence();  // this thread's streamed lines reach memory before whoever reads OUT next
  });
}

SwigluBackward cpu_swiglu_backward(const Tensor& grad_in, const Tensor& gate_in, const Tensor& up_in, bool need_product, bool need_gate,
                                   bool need_up) {
  RECORD_FUNCTION("cotrain::cpu_swiglu_backward", std::vector<c10::IValue>{grad_in});
  const auto grad = grad_in.contiguous(), gate = gate_in.contiguous(), up = up_in.contiguous();
  auto output = [&](bool needed) { return needed ? at::empty(gate.sizes(), gate.options()) : Tensor(); };
  SwigluBackward out{output(need_product), output(need_gate), output(need_up)};
  auto *product = data_or_null(out.product), *grad_gate = data_or_null(out.grad_gate), *grad_up = data_or_null(out.grad_up);
  const auto& silu = silu_tables();
  at::parallel_for(0, gate.numel(), kElementBlock, [&](std::int64_t begin, std::int64_t end) {
    swiglu_backward_elements(grad.data_ptr<BFloat16>() + begin, gate.data_ptr<BFloat16>() + begin, up.data_ptr<BFloat16>() + begin,
                             end - begin, silu, product ? product + begin : nullptr, grad_gate ? grad_gate + begin : nullptr,
                             grad_up ? grad_up + begin : nullptr);
  });
  return out;
}

Tensor cpu_rotary(const Tensor& x_in, const Tensor& cos_in, const Tensor& sin_in, bool transposed, bool head_major) {
  RECORD_FUNCTION("cotrain::cpu_rotary", std::vector<c10::IValue>{x_in});
  TORCH_CHECK(x_in.dim() == 4 && x_in.size(3) % 2 == 0, "cpu_rotary: x [B, H, T, D] with D even");
  const auto x = x_in.stride(3) == 1 ? x_in : x_in.contiguous();
  const auto batch = x.size(0), heads = x.size(1), length = x.size(2), d = x.size(3);
  const auto cos = cos_in.reshape({length, d}).contiguous(), sin = sin_in.reshape({length, d}).contiguous();
  auto out = head_major ? at::empty(x.sizes(), x.options()) : at::empty({batch, length, heads, d}, x.options()).transpose(1, 2);
  const auto *x_data = x.data_ptr<BFloat16>(), *cos_data = cos.data_ptr<BFloat16>(), *sin_data = sin.data_ptr<BFloat16>();
  auto* out_data = out.data_ptr<BFloat16>();
  at::parallel_for(0, batch * length, 16, [&](std::int64_t begin, std::int64_t end) {
    for (auto row = begin; row < end; ++row) {
      const auto b = row / length, t = row % length;
      for (std::int64_t h = 0; h < heads; ++h) {
        rotary_head(x_data + b * x.stride(0) + h * x.stride(1) + t * x.stride(2), cos_data + t * d, sin_data + t * d, d / 2, transposed,
                    out_data + b * out.stride(0) + h * out.stride(1) + t * out.stride(2));
      }
    }
  });
  return out;
}

void cpu_fold_logsumexp(const Tensor& logits, const Tensor& max, const Tensor& sum) {
  RECORD_FUNCTION("cotrain::cpu_fold_logsumexp", std::vector<c10::IValue>{logits});
  TORCH_CHECK(logits.dim() == 2 && logits.stride(1) == 1 && max.is_contiguous() && sum.is_contiguous(),
              "cpu_fold_logsumexp: logits' rows contiguous, max and sum contiguous");
  const auto w = logits.size(1), ld = logits.stride(0);
  at::parallel_for(0, logits.size(0), 1, [&](std::int64_t begin, std::int64_t end) {
    fold_rows<false>(logits.data_ptr<BFloat16>() + begin * ld, end - begin, w, ld, max.data_ptr<float>() + begin,
                     sum.data_ptr<float>() + begin, nullptr, 0);
  });
}

void cpu_fold_exponentials_(const Tensor& logits, const Tensor& max, const Tensor& sum, const Tensor& sums) {
  RECORD_FUNCTION("cotrain::cpu_fold_exponentials_", std::vector<c10::IValue>{logits});
  TORCH_CHECK(logits.dim() == 2 && logits.stride(1) == 1 && max.is_contiguous() && sum.is_contiguous(),
              "cpu_fold_exponentials_: logits' rows contiguous, max and sum contiguous");
  TORCH_CHECK(!sums.defined() || (sums.dim() == 2 && sums.size(0) == logits.size(0) && sums.is_contiguous() && sums.scalar_type() == at::kFloat),
              "cpu_fold_exponentials_: sums [rows, hidden] contiguous fp32");
  const auto w = logits.size(1), ld = logits.stride(0), hidden = sums.defined() ? sums.size(1) : 0;
  at::parallel_for(0, logits.size(0), 1, [&](std::int64_t begin, std::int64_t end) {
    fold_rows<true>(logits.data_ptr<BFloat16>() + begin * ld, end - begin, w, ld, max.data_ptr<float>() + begin, sum.data_ptr<float>() + begin,
                    sums.defined() ? sums.data_ptr<float>() + begin * hidden : nullptr, hidden);
  });
}

void cpu_softmax_gradient_(const Tensor& logits, const Tensor& lse, const Tensor& target_columns, const Tensor& valid) {
  RECORD_FUNCTION("cotrain::cpu_softmax_gradient_", std::vector<c10::IValue>{logits});
  TORCH_CHECK(logits.dim() == 2 && logits.stride(1) == 1 && lse.is_contiguous() && target_columns.is_contiguous() && valid.is_contiguous(),
              "cpu_softmax_gradient_: logits' rows contiguous, the rest contiguous");
  const auto w = logits.size(1), ld = logits.stride(0);
  at::parallel_for(0, logits.size(0), 1, [&](std::int64_t begin, std::int64_t end) {
    softmax_gradient_rows(logits.data_ptr<BFloat16>() + begin * ld, end - begin, w, ld, lse.data_ptr<float>() + begin,
                          target_columns.data_ptr<std::int64_t>() + begin, valid.data_ptr<float>() + begin);
  });
}

}  // namespace cotrain

#else  // the instructions are x86's

namespace cotrain {

bool cpu_elementwise_applies(std::initializer_list<const at::Tensor*>) { return false; }
// Unreachable: callers check cpu_elementwise_applies first.
std::pair<at::Tensor, at::Tensor> cpu_rms_norm(const at::Tensor&, const at::Tensor&, double) { TORCH_CHECK(false, "no AVX-512"); }
std::pair<at::Tensor, at::Tensor> cpu_rms_norm_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, bool,
                                                        bool, const at::Tensor&) {
  TORCH_CHECK(false, "no AVX-512");
}
at::Tensor cpu_swiglu(const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AVX-512"); }
at::Tensor cpu_add(const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AVX-512"); }
at::Tensor cpu_scaled_bf16(const at::Tensor&, float) { TORCH_CHECK(false, "no AVX-512"); }
at::Tensor cpu_transpose(const at::Tensor&) { TORCH_CHECK(false, "no AVX-512"); }
void cpu_transpose_into(const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AVX-512"); }
SwigluBackward cpu_swiglu_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool, bool, bool) {
  TORCH_CHECK(false, "no AVX-512");
}
at::Tensor cpu_rotary(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool, bool) { TORCH_CHECK(false, "no AVX-512"); }
void cpu_fold_logsumexp(const at::Tensor&, const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AVX-512"); }
void cpu_fold_exponentials_(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AVX-512"); }
void cpu_softmax_gradient_(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&) { TORCH_CHECK(false, "no AVX-512"); }

}  // namespace cotrain

#endif
