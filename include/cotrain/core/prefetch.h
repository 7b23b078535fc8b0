// Software prefetch for the CPU kernels' streaming passes. On the 2-core Xeon VMs this project is
// measured on, the hardware's prefetcher alone left such passes well below the memory's speed where
// they read several streams or rows a stride apart (it starts over on every 4 KB page): asking
// ahead made AdamW's five streams 17% faster and the loss's softmax passes over rows of logits up
// to 2.4x (docs/performance.md).
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace cotrain {

// Asks for the cache line kAhead elements past STREAM + AT, once per line (where AT is a line's
// first element, for 64-byte aligned streams). Past the end of an array the request is dropped:
// prefetches never fault.
template <int kHint, std::int64_t kAhead, typename T>
inline void ask_ahead(const T* stream, std::int64_t at) {
  constexpr std::int64_t kPerLine = 64 / sizeof(T);
  if (at % kPerLine == 0) _mm_prefetch(reinterpret_cast<const char*>(stream + at + kAhead), static_cast<decltype(_MM_HINT_T0)>(kHint));
}

}  // namespace cotrain
#endif
