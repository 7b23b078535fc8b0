#include "cotrain/train/optimizer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <regex>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized where inlined (GCC bug 105593, as avx512.h).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "cotrain/core/error.h"
#include "cotrain/core/prefetch.h"

namespace cotrain {

bool decays(const std::string& parameter_name) {
  // transformers' Trainer.get_decay_parameter_names: these patterns on the lower-cased name.
  static const std::regex no_decay(R"(bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.))");
  std::string lower = parameter_name;
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return !std::regex_search(lower, no_decay);
}

namespace {

// The bit arithmetic of split_master and join_master, one pass over contiguous CPU memory.
void split_bits_portable(const std::uint32_t* master, std::uint16_t* high, std::int16_t* low, std::int64_t n, std::int64_t i = 0) {
  for (; i < n; ++i) {
    // Adding half of the dropped part's range carries into the upper half exactly when the dropped
    // bits are >= 0x8000; on sign-magnitude bits that rounds the magnitude up.
    high[i] = static_cast<std::uint16_t>((master[i] + 0x8000u) >> 16);
    // The rest is bits - (high << 16), in [-0x8000, 0x7fff]: the lower 16 bits read as a signed
    // number, negative exactly when the upper half was rounded up.
    if (low) low[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(master[i]));
  }
}

void join_bits_portable(const std::uint16_t* high, const std::int16_t* low, std::uint32_t* master, std::int64_t n, std::int64_t i = 0) {
  for (; i < n; ++i) master[i] = (static_cast<std::uint32_t>(high[i]) << 16) + static_cast<std::uint32_t>(low[i]);
}

// The same 16 values at a time. The optimizer runs these on blocks in cache, where the compiler's
// SSE loops above were compute-bound (0.22 s of a 494 M-parameter step, docs/performance.md).
// Only functions marked with the target use the instructions; avx512_here() picks them.
#if defined(__x86_64__)
// 16 masters' bits from their HIGH and LOW halves, and back.
__attribute__((target("avx512f"))) inline __m512i join16(const std::uint16_t* high, const std::int16_t* low) {
  const auto upper = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(high))), 16);
  return _mm512_add_epi32(upper, _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(low))));
}

__attribute__((target("avx512f"))) inline void split16(__m512i bits, std::uint16_t* high, std::int16_t* low) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(high), _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x8000)), 16)));
  if (low) _mm256_storeu_si256(reinterpret_cast<__m256i*>(low), _mm512_cvtepi32_epi16(bits));
}

__attribute__((target("avx512f"))) void split_bits_avx512(const std::uint32_t* master, std::uint16_t* high, std::int16_t* low,
                                                          std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) split16(_mm512_loadu_si512(master + i), high + i, low ? low + i : nullptr);
  split_bits_portable(master, high, low, n, i);
}

__attribute__((target("avx512f"))) void join_bits_avx512(const std::uint16_t* high, const std::int16_t* low, std::uint32_t* master,
                                                         std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_si512(master + i, join16(high + i, low + i));
  join_bits_portable(high, low, master, n, i);
}

bool avx512_here() {
  static const bool here = __builtin_cpu_supports("avx512f");
  return here;
}

void split_bits(const std::uint32_t* master, std::uint16_t* high, std::int16_t* low, std::int64_t n) {
  avx512_here() ? split_bits_avx512(master, high, low, n) : split_bits_portable(master, high, low, n);
}
void join_bits(const std::uint16_t* high, const std::int16_t* low, std::uint32_t* master, std::int64_t n) {
  avx512_here() ? join_bits_avx512(high, low, master, n) : join_bits_portable(high, low, master, n);
}
#else
void split_bits(const std::uint32_t* master, std::uint16_t* high, std::int16_t* low, std::int64_t n) { split_bits_portable(master, high, low, n); }
void join_bits(const std::uint16_t* high, const std::int16_t* low, std::uint32_t* master, std::int64_t n) { join_bits_portable(high, low, master, n); }
#endif

// The numbers of one AdamW step as at::_fused_adamw_'s CPU kernel rounds them to fp32
// (FusedAdamKernel.cpp, ADAMW mode): computed in double, then each converted once.
struct AdamWCoefficients {
  bool decay;          // weight decay applies: the master is first multiplied by DECAY_FACTOR
  float decay_factor;  // 1 - lr * weight_decay
  // exp_avg.lerp_(grad, 1 - beta1) as the kernel splits it: from exp_avg when |1 - beta1| < 0.5,
  // else from grad (the scalar loop writes the second form out differently).
  bool lerp_from_avg;
  float lerp_weight, lerp_coefficient;
  float beta2, one_minus_beta2, bias_correction2_sqrt, eps, step_size;
  bool scaled;  // the gradient is divided by INVERSE_SCALE first (AMP's form of our scale)
  float inverse_scale;
};

AdamWCoefficients adamw_coefficients(double lr, const AdamWSettings& settings, double weight_decay, double step, double grad_scale) {
  AdamWCoefficients c;
  c.decay = weight_decay != 0;
  c.decay_factor = static_cast<float>(1 - lr * weight_decay);
  c.lerp_weight = static_cast<float>(1 - settings.beta1);
  c.lerp_from_avg = std::abs(c.lerp_weight) < 0.5f;
  c.lerp_coefficient = c.lerp_from_avg ? c.lerp_weight : c.lerp_weight - 1.0f;
  c.beta2 = static_cast<float>(settings.beta2);
  c.one_minus_beta2 = static_cast<float>(1 - settings.beta2);
  c.bias_correction2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(settings.beta2, step)));
  c.eps = static_cast<float>(settings.eps);
  c.step_size = static_cast<float>(lr / (1 - std::pow(settings.beta1, step)));
  c.scaled = grad_scale != 1.0;
  c.inverse_scale = static_cast<float>(1.0 / grad_scale);
  return c;
}

// One AdamW step of the split masters (HIGH, LOW) of N elements with their fp32 gradient GRAD,
// joined, stepped and split again while in registers, instead of a pass each over an fp32 copy
// (0.51 -> 0.38 s for the 494 M parameters of a 2-core Xeon's step, docs/performance.md). The
// operations are the fused kernel's, one for one: its vector loop's, and for the last n % 16
// elements of a call its scalar loop's; so the same bits (tests).
#if defined(__x86_64__)
// 16 fp32 or bf16 values as fp32: a bf16 one is the upper half of its fp32 (AdamW reads a bf16
// parameter's gradient so, in place: a converted copy per block cost a 494 M-parameter step ~65 ms).
template <typename T>
__attribute__((target("avx512f"))) inline __m512 load16(const T* x) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_loadu_ps(x);
  } else {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))), 16));
  }
}

template <typename G>
__attribute__((target("avx512f"))) void adamw_split_avx512(std::uint16_t* high, std::int16_t* low, const G* grad, float* exp_avg,
                                                           float* exp_avg_sq, std::int64_t n, const AdamWCoefficients& c) {
  const auto decay_factor = _mm512_set1_ps(c.decay_factor), lerp = _mm512_set1_ps(c.lerp_coefficient), beta2 = _mm512_set1_ps(c.beta2),
             one_minus_beta2 = _mm512_set1_ps(c.one_minus_beta2), bias_correction2_sqrt = _mm512_set1_ps(c.bias_correction2_sqrt),
             eps = _mm512_set1_ps(c.eps), minus_step_size = _mm512_set1_ps(-c.step_size), inverse_scale = _mm512_set1_ps(c.inverse_scale);
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    // Each stream asked for 1,024 elements ahead: 310 -> 258-265 ms for 494 M parameters on a
    // 2-core Xeon (512 ahead the same, 2,048 slower).
    ask_ahead<_MM_HINT_ET0, 1024>(exp_avg, i);
    ask_ahead<_MM_HINT_ET0, 1024>(exp_avg_sq, i);
    ask_ahead<_MM_HINT_ET0, 1024>(high, i);
    ask_ahead<_MM_HINT_ET0, 1024>(low, i);
    ask_ahead<_MM_HINT_T0, 1024>(grad, i);
    auto param = _mm512_castsi512_ps(join16(high + i, low + i));
    auto g = load16(grad + i);
    if (c.scaled) g = _mm512_div_ps(g, inverse_scale);
    if (c.decay) param = _mm512_mul_ps(param, decay_factor);
    auto avg = _mm512_loadu_ps(exp_avg + i);
    avg = _mm512_fmadd_ps(lerp, _mm512_sub_ps(g, avg), c.lerp_from_avg ? avg : g);
    auto avg_sq = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(exp_avg_sq + i), beta2), _mm512_mul_ps(_mm512_mul_ps(one_minus_beta2, g), g));
    _mm512_storeu_ps(exp_avg + i, avg);
    _mm512_storeu_ps(exp_avg_sq + i, avg_sq);
    const auto denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(avg_sq), bias_correction2_sqrt), eps);
    param = _mm512_add_ps(param, _mm512_div_ps(_mm512_mul_ps(minus_step_size, avg), denom));
    split16(_mm512_castps_si512(param), high + i, low + i);
  }
  for (; i < n; ++i) {
    std::uint32_t bits;
    join_bits_portable(high + i, low + i, &bits, 1);
    float param;
    std::memcpy(&param, &bits, 4);
    float g = static_cast<float>(grad[i]);
    if (c.scaled) g = g / c.inverse_scale;
    if (c.decay) param = param * c.decay_factor;
    float avg = exp_avg[i];
    avg = c.lerp_from_avg ? avg + c.lerp_weight * (g - avg) : g - (g - avg) * (1.0f - c.lerp_weight);
    float avg_sq = exp_avg_sq[i] * c.beta2;
    avg_sq = avg_sq + c.one_minus_beta2 * g * g;
    exp_avg[i] = avg;
    exp_avg_sq[i] = avg_sq;
    param = param - c.step_size * avg / (std::sqrt(avg_sq) / c.bias_correction2_sqrt + c.eps);
    std::memcpy(&bits, &param, 4);
    split_bits_portable(&bits, high + i, low + i, 1);
  }
}
#endif

template <typename T>
T* bits_of(const torch::Tensor& t) {
  return reinterpret_cast<T*>(t.data_ptr());
}

bool contiguous_on_cpu(std::initializer_list<const torch::Tensor*> tensors) {
  for (const auto* t : tensors) {
    if (t->defined() && (!t->is_cpu() || !t->is_contiguous())) return false;
  }
  return true;
}

// Squares summed in fp32 over 16 values per lane, those sums in fp64.
template <typename T>
double sum_of_squares_portable(const T* x, std::int64_t n) {
  constexpr std::int64_t kLanes = 16, kRun = 16 * kLanes;
  double total = 0;
  std::int64_t i = 0;
  for (; i + kRun <= n; i += kRun) {
    float lane[kLanes] = {};
    for (std::int64_t j = 0; j < kRun; j += kLanes) {
      for (std::int64_t l = 0; l < kLanes; ++l) {
        const float v = static_cast<float>(x[i + j + l]);
        lane[l] += v * v;
      }
    }
    for (float s : lane) total += s;
  }
  for (; i < n; ++i) total += static_cast<double>(static_cast<float>(x[i])) * static_cast<float>(x[i]);
  return total;
}

#if defined(__x86_64__)
// RUN plus the squares of the 16 values at X.
template <typename T>
__attribute__((target("avx512f"))) inline __m512 add_squares(const T* x, __m512 run) {
  const auto v = load16(x);
  return _mm512_fmadd_ps(v, v, run);
}

// The same in AVX-512: squares summed in fp32 per lane over runs of 256 values (a part vector at
// the end zero-padded), the runs' sums in fp64 per lane. The compiler's SSE loop above was
// compute-bound at ~8 GB/s.
template <typename T>
__attribute__((target("avx512f"))) double sum_of_squares_avx512(const T* x, std::int64_t n) {
  constexpr std::int64_t kRun = 256;
  auto total_low = _mm512_setzero_pd(), total_high = _mm512_setzero_pd();
  for (std::int64_t i = 0; i < n; i += kRun) {
    const auto run_end = std::min(n, i + kRun);
    auto run = _mm512_setzero_ps();
    std::int64_t j = i;
    for (; j + 16 <= run_end; j += 16) run = add_squares(x + j, run);
    if (j < run_end) {
      T part[16] = {};
      std::copy(x + j, x + run_end, part);
      run = add_squares(part, run);
    }
    total_low = _mm512_add_pd(total_low, _mm512_cvtps_pd(_mm512_castps512_ps256(run)));
    total_high = _mm512_add_pd(total_high, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(run), 1))));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(total_low, total_high));
}

template <typename T>
double sum_of_squares(const T* x, std::int64_t n) {
  return avx512_here() ? sum_of_squares_avx512(x, n) : sum_of_squares_portable(x, n);
}
#else
template <typename T>
double sum_of_squares(const T* x, std::int64_t n) {
  return sum_of_squares_portable(x, n);
}
#endif

}  // namespace

torch::Tensor squared_norm(const torch::Tensor& flat) {
  RECORD_FUNCTION("cotrain::squared_norm", std::vector<c10::IValue>{flat});
  torch::NoGradGuard no_grad;
  constexpr std::int64_t kBlock = 1 << 16;
  const std::int64_t n = flat.numel(), blocks = (n + kBlock - 1) / kBlock;
  const auto type = flat.scalar_type();
  if (contiguous_on_cpu({&flat}) && (type == torch::kFloat32 || type == torch::kBFloat16)) {
    // One pass in parallel; the blocks' sums are added in order, so no thread count changes a bit.
    std::vector<double> sums(static_cast<std::size_t>(blocks));
    at::parallel_for(0, blocks, 1, [&](std::int64_t first, std::int64_t last) {
      for (std::int64_t b = first; b < last; ++b) {
        const std::int64_t begin = b * kBlock, count = std::min(kBlock, n - begin);
        sums[static_cast<std::size_t>(b)] = type == torch::kFloat32 ? sum_of_squares(flat.data_ptr<float>() + begin, count)
                                                                    : sum_of_squares(flat.data_ptr<c10::BFloat16>() + begin, count);
      }
    });
    double total = 0;
    for (double s : sums) total += s;
    return torch::tensor(total, torch::kFloat64);
  }
  // Elsewhere (a GPU) one reduction that widens to fp64 as it reads: no copy, one launch (blocks of
  // 4 MiB cost an H200 more in launches than in work).
  return at::linalg_vector_norm(flat, 2, std::nullopt, /*keepdim=*/false, torch::kFloat64).square();
}

torch::Tensor squared_norm_sum(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(!tensors.empty(), "squared_norm_sum: no tensors");
  bool on_cpu = true;
  for (const auto& t : tensors) on_cpu = on_cpu && contiguous_on_cpu({&t});
  if (on_cpu) {
    auto total = torch::zeros({}, torch::kFloat64);
    for (const auto& t : tensors) total += squared_norm(t.reshape(-1));
    return total;
  }
  return at::stack(at::_foreach_norm(tensors, 2, torch::kFloat64)).square().sum();
}

void split_master(const torch::Tensor& master, const torch::Tensor& high, const torch::Tensor& low) {
  torch::NoGradGuard no_grad;
  if (contiguous_on_cpu({&master, &high, &low})) {
    split_bits(bits_of<std::uint32_t>(master), bits_of<std::uint16_t>(high), low.defined() ? bits_of<std::int16_t>(low) : nullptr, master.numel());
    return;
  }
  const torch::Tensor bits = master.view(torch::kInt32);  // as split_bits, in int32 ops that wrap
  high.view(torch::kInt16).copy_(bits.add(0x8000).bitwise_right_shift_(16));
  if (low.defined()) low.copy_(bits);
}

torch::Tensor join_master(const torch::Tensor& high, const torch::Tensor& low) {
  torch::NoGradGuard no_grad;
  if (contiguous_on_cpu({&high, &low})) {
    auto master = torch::empty(high.sizes(), high.options().dtype(torch::kFloat32));
    join_bits(bits_of<std::uint16_t>(high), bits_of<std::int16_t>(low), bits_of<std::uint32_t>(master), high.numel());
    return master;
  }
  return high.view(torch::kInt16).to(torch::kInt32).bitwise_left_shift_(16).add_(low).view(torch::kFloat32);
}

torch::Tensor bf16_of_master(const torch::Tensor& master) {
  torch::Tensor high = torch::empty(master.sizes(), master.options().dtype(torch::kBFloat16));
  split_master(master, high, torch::Tensor());
  return high;
}

AdamWState::AdamWState(const torch::Tensor& params, bool decay_, const torch::Device& device, bool split) : decay(decay_) {
  torch::NoGradGuard no_grad;
  const auto fp32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  if (split) {
    if (params.scalar_type() != torch::kBFloat16 || params.device() != device) {
      fail_runtime("AdamWState: a split master needs bf16 parameters on {} (got {} on {})", device.str(),
                   c10::toString(params.scalar_type()), params.device().str());
    }
    high = params.detach();
    low = torch::zeros(params.sizes(), fp32.dtype(torch::kInt16));
  } else {
    master_is_params = params.scalar_type() == torch::kFloat32 && params.device() == device;
    master = master_is_params ? params.detach() : params.detach().to(device, torch::kFloat32, /*non_blocking=*/false, /*copy=*/true);
  }
  exp_avg = torch::zeros(params.sizes(), fp32);
  exp_avg_sq = torch::zeros(params.sizes(), fp32);
  step = torch::zeros({}, fp32);
}

torch::Tensor AdamWState::master_fp32() const { return split() ? join_master(high, low) : master; }

void AdamWState::set_master(const torch::Tensor& fp32) {
  torch::NoGradGuard no_grad;
  if (split()) {
    split_master(fp32.to(high.device()), high, low);
  } else {
    master.copy_(fp32);
  }
}

std::int64_t AdamWState::bytes() const {
  std::int64_t total = 0;
  for (const auto* t : {&master, &low, &exp_avg, &exp_avg_sq}) {
    if (t->defined() && !(t == &master && master_is_params)) total += t->numel() * static_cast<std::int64_t>(t->element_size());
  }
  return total;
}

void adamw_step(AdamWState& state, const std::function<torch::Tensor(std::int64_t, std::int64_t)>& grad, double lr,
                const AdamWSettings& settings, double grad_scale) {
  RECORD_FUNCTION("cotrain::adamw_step", std::vector<c10::IValue>{state.exp_avg});
  torch::NoGradGuard no_grad;
  // The kernel divides by its grad_scale (AMP's loss scale): the inverse of ours.
  std::optional<torch::Tensor> inverse_scale;
  if (grad_scale != 1.0) inverse_scale = torch::full({}, 1.0 / grad_scale, state.exp_avg.options());
  state.step.add_(1);  // the fused kernel reads the incremented count, as torch's _fused_adamw
  const double weight_decay = state.decay ? settings.weight_decay : 0.0;
  auto update = [&](const torch::Tensor& master, std::int64_t begin, std::int64_t n) {
    at::_fused_adamw_({master}, {grad(begin, n).to(torch::kFloat32)}, {state.exp_avg.narrow(0, begin, n)}, {state.exp_avg_sq.narrow(0, begin, n)},
                      /*max_exp_avg_sqs=*/{}, {state.step}, lr, settings.beta1, settings.beta2, weight_decay, settings.eps,
                      /*amsgrad=*/false, /*maximize=*/false, inverse_scale);
  };
  const std::int64_t numel = state.exp_avg.numel();
  if (state.split() && contiguous_on_cpu({&state.high, &state.low, &state.exp_avg, &state.exp_avg_sq})) {
    // Each thread takes whole blocks and joins, steps and splits one while it is in its core's
    // cache (256 KiB of fp32 per array): one pass over memory instead of one per operation. With
    // squared_norm's one pass, the optimizer's part of a 494 M-parameter step went from 1.4-1.6 s
    // to 0.9 s on a 2-core Xeon (docs/performance.md).
    constexpr std::int64_t kBlock = 1 << 16;
    const auto coefficients = adamw_coefficients(lr, settings, weight_decay, state.step.item<float>(), grad_scale);
    at::parallel_for(0, (numel + kBlock - 1) / kBlock, 1, [&](std::int64_t first, std::int64_t last) {
      auto buffer = torch::empty({kBlock}, state.exp_avg.options());
      for (std::int64_t b = first; b < last; ++b) {
        const std::int64_t begin = b * kBlock, n = std::min(kBlock, numel - begin);
#if defined(__x86_64__)
        if (avx512_here()) {
          auto g = grad(begin, n);
          g = g.scalar_type() == torch::kBFloat16 ? g.contiguous() : g.to(torch::kFloat32).contiguous();
          auto* high = bits_of<std::uint16_t>(state.high) + begin;
          auto* low = bits_of<std::int16_t>(state.low) + begin;
          float* avg = state.exp_avg.data_ptr<float>() + begin;
          float* avg_sq = state.exp_avg_sq.data_ptr<float>() + begin;
          if (g.scalar_type() == torch::kBFloat16) {
            adamw_split_avx512(high, low, g.data_ptr<c10::BFloat16>(), avg, avg_sq, n, coefficients);
          } else {
            adamw_split_avx512(high, low, g.data_ptr<float>(), avg, avg_sq, n, coefficients);
          }
          continue;
        }
#endif
        auto master = buffer.narrow(0, 0, n);
        join_bits(bits_of<std::uint16_t>(state.high) + begin, bits_of<std::int16_t>(state.low) + begin, bits_of<std::uint32_t>(master), n);
        update(master, begin, n);
        split_bits(bits_of<std::uint32_t>(master), bits_of<std::uint16_t>(state.high) + begin, bits_of<std::int16_t>(state.low) + begin, n);
      }
    });
    return;
  }
  // 4 MiB of fp32 at a time on a CPU: fp32 copies of gradients or split masters exist for a block
  // only. A GPU takes 256 MiB: with 4 MiB, the launches of a block's few kernels cost ~10x their
  // run time (a 494 M-parameter step's optimizer 81 ms on an H200, docs/performance.md).
  const std::int64_t block = state.exp_avg.is_cpu() ? 1 << 20 : 1 << 26;
  for (std::int64_t begin = 0; begin < numel; begin += block) {
    const std::int64_t n = std::min(block, numel - begin);
    if (!state.split()) {
      update(state.master.narrow(0, begin, n), begin, n);
      continue;
    }
    auto high = state.high.narrow(0, begin, n), low = state.low.narrow(0, begin, n);
    auto master = join_master(high, low);
    update(master, begin, n);
    split_master(master, high, low);
  }
}

}  // namespace cotrain
