#include "cotrain/core/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace cotrain {

Progress::Progress(std::string what, std::int64_t total, std::string unit)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()), last_(start_), tty_(isatty(STDERR_FILENO) != 0) {}

void Progress::advance(std::int64_t n) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  auto every = tty_ ? std::chrono::seconds(1) : std::chrono::seconds(10);
  if (now - last_ >= every) {
    last_ = now;
    print(false);
  }
}

void Progress::finish() {
  if (printed_) print(true);
}

void Progress::print(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
  std::string line = fmt::format("{}: {}", what_, done_);
  if (total_ > 0) line += fmt::format("/{} ({:.0f}%)", total_, 100.0 * static_cast<double>(done_) / static_cast<double>(total_));
  line += fmt::format(" {}, {:.1f} {}/s", unit_, rate, unit_);
  if (!final && total_ > 0 && rate > 0) line += fmt::format(", ETA {:.0f} s", static_cast<double>(total_ - done_) / rate);
  if (final) line += fmt::format(", {:.1f} s", secs);
  std::fprintf(stderr, tty_ && !final ? "\r%s\033[K" : "%s\n", line.c_str());
  if (tty_ && final) std::fflush(stderr);
  printed_ = true;
}

}  // namespace cotrain
