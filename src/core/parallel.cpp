#include "cotrain/core/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "cotrain/core/signals.h"

namespace cotrain {

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn) {
  std::size_t workers = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  workers = std::min(workers, n);
  if (workers <= 1) {
    for (std::size_t i = 0; i < n; ++i) {
      throw_if_stopped();
      fn(i);
    }
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  {
    std::vector<std::jthread> pool;
    for (std::size_t w = 0; w < workers; ++w) {
      pool.emplace_back([&] {
        try {
          for (std::size_t i; (i = next++) < n;) {
            throw_if_stopped();
            fn(i);
          }
        } catch (...) {
          std::lock_guard lock(failure_mutex);
          if (!failure) failure = std::current_exception();
          next = n;
        }
      });
    }
  }  // joins
  if (failure) std::rethrow_exception(failure);
}

}  // namespace cotrain
