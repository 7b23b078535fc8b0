#include "cotrain/generate/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

void check_sampling_params(const SamplingParams& p) {
  if (!(p.temperature >= 0.0) || !std::isfinite(p.temperature)) fail_input("--temperature: must be >= 0 (got {})", p.temperature);
  if (!(p.top_p > 0.0 && p.top_p <= 1.0)) fail_input("--top-p: must be in (0, 1] (got {})", p.top_p);
  if (p.top_k < 0) fail_input("--top-k: must be >= 0 (got {})", p.top_k);
}

double sample_uniform(std::uint64_t seed, std::uint64_t prompt, std::uint64_t sample, std::uint64_t step) {
  std::uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ prompt);
  h = splitmix64(h ^ sample);
  h = splitmix64(h ^ step);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

std::int64_t choose_token(std::span<const float> logits, const SamplingParams& p, double uniform) {
  const auto vocab = static_cast<std::int64_t>(logits.size());
  if (vocab == 0) fail_input("cannot choose a token from empty logits");
  if (p.greedy()) return std::max_element(logits.begin(), logits.end()) - logits.begin();  // first maximum

  // Candidates in descending order of logit (ties: lower id first). Only as many as top-k and
  // top-p can keep are sorted: the head is widened until it holds top_p of the mass.
  std::vector<std::int32_t> order(static_cast<std::size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  auto before = [&](std::int32_t a, std::int32_t b) { return logits[a] != logits[b] ? logits[a] > logits[b] : a < b; };
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> weight(static_cast<std::size_t>(vocab));
  double total = 0;
  for (std::int64_t i = 0; i < vocab; ++i) total += weight[i] = std::exp((static_cast<double>(logits[i]) - max_logit) / p.temperature);

  std::int64_t keep = vocab;
  if (p.top_k > 0 && p.top_k < vocab) {
    std::nth_element(order.begin(), order.begin() + (p.top_k - 1), order.end(), before);
    const float kth = logits[order[p.top_k - 1]];
    keep = std::partition(order.begin(), order.end(), [&](std::int32_t t) { return logits[t] >= kth; }) - order.begin();
    total = 0;
    for (std::int64_t i = 0; i < keep; ++i) total += weight[order[i]];
  }
  auto draw = [&](std::int64_t count, double mass, auto token_at) -> std::int64_t {
    const double target = uniform * mass;
    double cumulative = 0;
    for (std::int64_t i = 0; i < count; ++i) {
      cumulative += weight[token_at(i)];
      if (cumulative > target) return token_at(i);
    }
    return token_at(count - 1);
  };
  if (p.top_p >= 1.0) {  // no nucleus: draw over the kept tokens without ordering them all
    if (keep == vocab) return draw(vocab, total, [](std::int64_t i) { return i; });
    std::sort(order.begin(), order.begin() + keep, before);
    return draw(keep, total, [&](std::int64_t i) { return static_cast<std::int64_t>(order[i]); });
  }
  std::int64_t head = std::min<std::int64_t>(keep, 64);
  for (;;) {
    if (head < keep) std::nth_element(order.begin(), order.begin() + head, order.begin() + keep, before);
    std::sort(order.begin(), order.begin() + head, before);
    double mass = 0;
    for (std::int64_t i = 0; i < head; ++i) mass += weight[order[i]];
    if (head == keep || mass >= p.top_p * total) break;
    head = std::min(keep, head * 8);
  }
  // top-p: a token stays while the mass before it is below top_p.
  std::int64_t kept = 0;
  double kept_mass = 0;
  for (; kept < head && (kept == 0 || kept_mass < p.top_p * total); ++kept) kept_mass += weight[order[kept]];
  return draw(kept, kept_mass, [&](std::int64_t i) { return static_cast<std::int64_t>(order[i]); });
}

}  // namespace cotrain
