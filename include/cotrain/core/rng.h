// A seeded random generator with a fixed algorithm (splitmix64), so that perturbations, synthetic
// data, packing orders and the grader's random points are the same bytes on every platform and
// compiler (the standard library's distributions are not specified exactly enough for that).
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace cotrain {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  // An independent stream for item `index` of a run seeded with `seed`.
  Rng(std::uint64_t seed, std::uint64_t index) : state_(Rng(seed ^ (index * 0xD1B54A32D192ED03ull)).next()) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n), n > 0, without modulo bias.
  std::uint64_t below(std::uint64_t n) {
    std::uint64_t threshold = (0 - n) % n;
    for (;;) {
      std::uint64_t r = next();
      if (r >= threshold) return r % n;
    }
  }

  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool chance(double p) { return uniform() < p; }

  template <class T>
  void shuffle(std::vector<T>& items) {  // Fisher-Yates
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  std::uint64_t state_;
};

}  // namespace cotrain
