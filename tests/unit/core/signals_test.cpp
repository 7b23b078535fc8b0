#include "cotrain/core/signals.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "cotrain/core/error.h"
#include "cotrain/core/parallel.h"

namespace cotrain {
namespace {

TEST(Signals, AStopRequestThrowsInterruptedWithTheSignal) {
  reset_stop_request();
  EXPECT_NO_THROW(throw_if_stopped());
  request_stop(SIGTERM);
  request_stop(SIGINT);  // the first signal is the one reported
  try {
    throw_if_stopped("no token cache written");
    FAIL() << "expected Interrupted";
  } catch (const Interrupted& e) {
    EXPECT_EQ(e.signal(), SIGTERM);
    EXPECT_STREQ(e.what(), "interrupted by SIGTERM; no token cache written");
  }
  reset_stop_request();
  EXPECT_FALSE(stop_requested());
}

TEST(Signals, TheHandlerSetsTheFlagInsteadOfKilling) {
  reset_stop_request();
  install_stop_handlers();
  std::raise(SIGINT);  // would end the test binary without the handler
  EXPECT_TRUE(stop_requested());
  EXPECT_EQ(stop_signal(), SIGINT);
  reset_stop_request();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

TEST(ParallelFor, CallsEveryIndexOnceOnAnyNumberOfThreads) {
  for (int threads : {0, 1, 3, 16}) {
    std::vector<std::atomic<int>> seen(1000);
    parallel_for(seen.size(), threads, [&](std::size_t i) { ++seen[i]; });
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i].load(), 1) << "threads " << threads << " index " << i;
  }
  parallel_for(0, 4, [](std::size_t) { FAIL() << "no items, no calls"; });
}

TEST(ParallelFor, RethrowsTheFirstErrorAndStopsHandingOut) {
  std::atomic<int> calls{0};
  // The other items take a while (5 s for all of them), so the loop has stopped long before they
  // could all run, even when the failing thread is descheduled between its throw and the stop
  // (trivial items did all run under a loaded ctest -j2).
  EXPECT_THROW(parallel_for(100000, 4,
                            [&](std::size_t i) {
                              ++calls;
                              if (i == 10) throw InputError("bad item 10");
                              std::this_thread::sleep_for(std::chrono::microseconds(200));
                            }),
               InputError);
  EXPECT_LT(calls.load(), 100000);
}

TEST(ParallelFor, AStopRequestEndsTheLoopWithInterrupted) {
  reset_stop_request();
  std::atomic<int> calls{0};
  EXPECT_THROW(parallel_for(100000, 2,
                            [&](std::size_t i) {
                              if (++calls == 50) request_stop(SIGINT);
                            }),
               Interrupted);
  EXPECT_LT(calls.load(), 1000);
  reset_stop_request();
}

}  // namespace
}  // namespace cotrain
