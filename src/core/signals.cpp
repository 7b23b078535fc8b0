#include "cotrain/core/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace cotrain {
namespace {

std::atomic<int> g_signals{0};
std::atomic<int> g_first_signal{0};

extern "C" void on_stop_signal(int sig) {
  int none = 0;
  g_first_signal.compare_exchange_strong(none, sig);  // before the flag, so a stop always has its signal
  if (g_signals.fetch_add(1) >= 1) _exit(128 + sig);  // second signal: the user really means it
  const char msg[] = "\ncotrain: stopping at the next safe point (signal again to abort)\n";
  ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
  (void)ignored;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return g_signals.load(std::memory_order_relaxed) > 0; }

int stop_signal() { return g_first_signal.load(std::memory_order_relaxed); }

void reset_stop_request() {
  g_signals = 0;
  g_first_signal = 0;
}

}  // namespace cotrain
