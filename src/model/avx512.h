// Vector pieces shared by the CPU kernels that run on AVX-512 BF16 (cpu_attention.cpp,
// cpu_elementwise.cpp). Only functions marked COTRAIN_AVX512_BF16 use the instructions, so the
// build needs no machine flags and callers check the CPU first (__builtin_cpu_supports).
#pragma once

#if defined(__x86_64__)
#include <c10/util/BFloat16.h>
#include <immintrin.h>

#include <cstdint>

// GCC 12's AVX-512 headers build some intermediate vectors from _mm*_undefined_*() on purpose,
// which -Wuninitialized reports where they are inlined (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define COTRAIN_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

namespace cotrain::avx512 {

// e^x = 2^n e^r with n = round(x / ln 2) and r = x - n ln 2 in two steps (Cody and Waite), e^r by
// its Taylor polynomial to degree 7 (|r| <= 0.35: relative error below 1e-8). Below -104 the
// result is 0; past ln(FLT_MAX) ~ 88.72 it is infinity (the bound of 89 keeps n at 128, where
// vscalefps overflows; a bound of 88 gave e^88 for every larger x); NaN stays NaN (max/min return
// their second operand when either is NaN).
COTRAIN_AVX512_BF16 inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(89.f), _mm512_max_ps(_mm512_set1_ps(-104.f), x));
  const auto n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  auto r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  auto p = _mm512_set1_ps(1.f / 5040);
  for (float coefficient : {1.f / 720, 1.f / 120, 1.f / 24, 1.f / 6, 0.5f, 1.f, 1.f}) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(coefficient));
  return _mm512_scalef_ps(p, n);
}

// 2^y = 2^floor(y) 2^f with f = y - floor(y) in [0, 1) (one exact instruction, vreduceps), 2^f by
// a degree-5 polynomial fitted to relative error over [0, 1) (a Remez fit: within 1.6e-7 of 2^y in
// fp32, exp16: 1e-8), and the power of two applied by vscalefps, which takes floor(y) itself; for
// the attention kernel, whose probabilities are rounded to bf16, and the caller folds log2(e) into
// its own scaling. Below -126 the result is 2^-126, the smallest normal number (no slow denormal
// arithmetic; next to a softmax's sum of at least 1 it is nothing); NaN stays NaN.
COTRAIN_AVX512_BF16 inline __m512 exp2_16(__m512 y) {
  y = _mm512_max_ps(_mm512_set1_ps(-126.f), y);
  const auto f = _mm512_reduce_ps(y, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  auto p = _mm512_set1_ps(1.87757669e-3f);
  for (float coefficient : {8.98933969e-3f, 5.58263175e-2f, 2.40153611e-1f, 6.93153083e-1f, 9.9999994e-1f}) {
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(coefficient));
  }
  return _mm512_scalef_ps(p, y);
}

// The first `count` of 16 lanes (all for count >= 16, none for count <= 0).
inline __mmask16 first_lanes(std::int64_t count) {
  return count >= 16 ? __mmask16(0xFFFF) : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
}

// The bits of 16 bf16 values (those of LANES; 0 elsewhere) in the low halves of 16 32-bit lanes.
COTRAIN_AVX512_BF16 inline __m512i load_bf16_bits(const c10::BFloat16* p, __mmask16 lanes) {
  return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes, p));
}

// bf16 bits in the low halves of 32-bit lanes as the fp32 values they are (the upper half of an
// fp32's bits), which is exact.
COTRAIN_AVX512_BF16 inline __m512 widen_bf16_bits(__m512i bits) { return _mm512_castsi512_ps(_mm512_slli_epi32(bits, 16)); }

// 16 bf16 values (those of LANES; 0 elsewhere) widened to fp32, which is exact.
COTRAIN_AVX512_BF16 inline __m512 load_bf16(const c10::BFloat16* p, __mmask16 lanes) { return widen_bf16_bits(load_bf16_bits(p, lanes)); }

// fp32 rounded to the nearest bf16, ties to even, as c10::BFloat16 rounds (but for inputs below
// 2^-126, which the instruction flushes to zero).
COTRAIN_AVX512_BF16 inline __m256i to_bf16(__m512 x) { return (__m256i)_mm512_cvtneps_pbh(x); }

COTRAIN_AVX512_BF16 inline void store_bf16(c10::BFloat16* p, __m512 x, __mmask16 lanes) { _mm256_mask_storeu_epi16(p, lanes, to_bf16(x)); }

// x rounded to bf16 and widened back: where a composite of bf16 ops would round an intermediate.
COTRAIN_AVX512_BF16 inline __m512 round_bf16(__m512 x) {
  return widen_bf16_bits(_mm512_cvtepu16_epi32(to_bf16(x)));
}

// The 64-bit halves of each 128-bit lane's pairs: the low ones of A and B, the high ones.
COTRAIN_AVX512_BF16 inline __m512 pairs_low(__m512 a, __m512 b) { return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); }
COTRAIN_AVX512_BF16 inline __m512 pairs_high(__m512 a, __m512 b) { return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); }

// Sixteen rows of 16 values become their 16 columns: unpacks pair the rows' elements within each
// 128-bit lane, then two rounds of 128-bit lane shuffles gather each column's four lanes.
COTRAIN_AVX512_BF16 inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
  }
  for (int k = 0; k < 4; ++k) {  // lane L of u[4k + m]: rows 4k..4k+3 of column 4L + m
    u[4 * k] = pairs_low(t[4 * k], t[4 * k + 2]);
    u[4 * k + 1] = pairs_high(t[4 * k], t[4 * k + 2]);
    u[4 * k + 2] = pairs_low(t[4 * k + 1], t[4 * k + 3]);
    u[4 * k + 3] = pairs_high(t[4 * k + 1], t[4 * k + 3]);
  }
  for (int m = 0; m < 4; ++m) {
    t[m] = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88);
    t[4 + m] = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
    t[8 + m] = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
    t[12 + m] = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
  }
  for (int m = 0; m < 4; ++m) {
    r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);
    r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd);
    r[4 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88);
    r[12 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xdd);
  }
}

}  // namespace cotrain::avx512

#endif
