// Work spread over threads (batch tokenisation, data preparation, statistics).
#pragma once
#include <cstddef>
#include <functional>

namespace cotrain {

// Calls fn(i) for every i in [0, n) on `threads` threads (0 = all cores), handing out indices one
// at a time so long and short items balance. The first exception thrown stops the handing out and
// is rethrown here once all threads have finished. A stop request (Ctrl-C) throws Interrupted the
// same way, before the next item.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn);

}  // namespace cotrain
