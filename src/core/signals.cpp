#include "cotrain/core/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

std::atomic<int> g_signals{0};
std::atomic<int> g_first_signal{0};

extern "C" void on_stop_signal(int sig) {
  if (g_signals.fetch_add(1) >= 1) _exit(128 + sig);  // second signal: the user really means it
  int none = 0;
  g_first_signal.compare_exchange_strong(none, sig);
  const char msg[] = "\ncotrain: stopping at the next safe point (signal again to abort)\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)ignored;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sa.sa_flags = SA_RESTART;  // reads and writes go on; the flag is polled at safe points
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return g_signals.load(std::memory_order_relaxed) > 0; }

int stop_signal() { return g_first_signal.load(); }

void throw_if_stopped(const char* what) {
  if (!stop_requested()) return;
  int sig = stop_signal();
  throw Interrupted(sig, fmt::format("interrupted by {}; {}", sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal", what));
}

void request_stop(int signal) {
  g_signals.fetch_add(1);
  int none = 0;
  g_first_signal.compare_exchange_strong(none, signal);
}

void reset_stop_request() {
  g_signals = 0;
  g_first_signal = 0;
}

}  // namespace cotrain
