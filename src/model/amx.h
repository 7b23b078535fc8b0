// The AMX tile unit's set-up, shared by the CPU kernels that multiply on it (cpu_attention.cpp,
// cpu_low_rank.cpp). Only functions marked COTRAIN_AMX use its instructions, so the build needs no
// machine flags; callers check amx_usable() first.
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

#define COTRAIN_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

namespace cotrain::amx {

// Every tile is 16 rows of 64 bytes: a 16 x 16 fp32 block of C, a 16 x 32 bf16 block of A (rows of
// bf16 pairs), or a 32 x 16 block of B (16 rows of int32 pairs, element (p, j) holding B's (2p, j)
// and (2p + 1, j)), the operand layouts of _tile_dpbf16ps.
constexpr std::int64_t kAmxRows = 16, kAmxPairs = 16;

struct alignas(64) AmxConfig {
  std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  std::uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// Eight 16 x 64-byte tiles. Other code on the thread (oneDNN's AMX kernels) may have loaded its own
// configuration, so a kernel loads this one before its tiles.
COTRAIN_AMX inline void amx_load_config() {
  static const AmxConfig config;
  _tile_loadconfig(&config);
}

// Linux hands a process the AMX tile registers only on request (arch_prctl ARCH_REQ_XCOMP_PERM).
inline bool amx_usable() {
  static const bool usable = __builtin_cpu_supports("amx-bf16") && __builtin_cpu_supports("amx-tile") &&
                             syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
  return usable;
}

// _mm512_permutex2var_epi16's indexes that pair element FIRST + k of its first operand with the
// same element of its second, for k = 0..15.
constexpr std::array<std::int16_t, 32> pair_index(int first) {
  std::array<std::int16_t, 32> index{};
  for (int k = 0; k < 32; ++k) index[k] = static_cast<std::int16_t>(first + k / 2 + (k % 2) * 32);
  return index;
}
inline constexpr auto kLowPairs = pair_index(0), kHighPairs = pair_index(16);

// Two rows' 32 bf16 values a[0..31] and b[0..31] as 32 int32 pairs (a[i], b[i]), i = 0..15 in LOW
// and 16..31 in HIGH: B's layout for a contraction over the two rows. AVX-512 BW only, so kernels
// of either kind inline it.
__attribute__((target("avx512f,avx512bw"))) inline void pair_rows(__m512i a, __m512i b, __m512i& low, __m512i& high) {
  low = _mm512_permutex2var_epi16(a, _mm512_loadu_si512(kLowPairs.data()), b);
  high = _mm512_permutex2var_epi16(a, _mm512_loadu_si512(kHighPairs.data()), b);
}

// [n, T, d] bf16 (rows of d contiguous, any strides; T even, d a multiple of 32) -> [n, T / 2, d]
// int32: pairs of rows, each column's pair one element, B's layout for a contraction over T (in
// one AVX-512 pass; cpu_attention.cpp).
at::Tensor token_pairs(const at::Tensor& x);

}  // namespace cotrain::amx

#endif
