// Progress lines on stderr for long work: count, rate and ETA, at most one line a second on a
// terminal (every 10 s otherwise, so logs stay readable). Silent for work that ends quickly.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace cotrain {

class Progress {
 public:
  Progress(std::string what, std::int64_t total, std::string unit = "items");
  void advance(std::int64_t n = 1);
  void finish();  // prints the final line if any line was printed

 private:
  void print(bool final);
  std::string what_, unit_;
  std::int64_t total_, done_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
  bool printed_ = false, tty_;
};

}  // namespace cotrain
