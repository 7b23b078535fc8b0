#include "cotrain/data/packing.h"

#include <algorithm>
#include <map>

#include "cotrain/core/error.h"
#include "cotrain/core/rng.h"

namespace cotrain {

double PackingPlan::efficiency() const {
  if (bins.empty()) return 1.0;
  return static_cast<double>(tokens) / (static_cast<double>(bins.size()) * static_cast<double>(capacity));
}

PackingPlan plan_packing(std::span<const std::int64_t> lengths, std::int64_t capacity, std::uint64_t seed,
                           std::uint64_t epoch) {
  if (capacity <= 0) fail_input("packing capacity must be positive, got {}", capacity);
  PackingPlan plan;
  plan.capacity = capacity;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    if (lengths[i] <= 0 || lengths[i] > capacity) {
      fail_input("document {} has {} tokens, outside 1..{} (the packing capacity)", i, lengths[i], capacity);
    }
    plan.tokens += lengths[i];
  }
  Rng rng(seed, epoch);
  std::vector<std::size_t> order(lengths.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.shuffle(order);  // decides ties below
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; });

  // Open bins by free space; the best fit is the first with at least the document's length free.
  std::multimap<std::int64_t, std::size_t> by_free;
  std::vector<std::vector<std::size_t>> bins;
  std::vector<std::int64_t> bin_tokens;
  for (std::size_t doc : order) {
    auto fit = by_free.lower_bound(lengths[doc]);
    std::size_t bin;
    if (fit == by_free.end()) {
      bin = bins.size();
      bins.emplace_back();
      bin_tokens.push_back(0);
    } else {
      bin = fit->second;
      by_free.erase(fit);
    }
    bins[bin].push_back(doc);
    bin_tokens[bin] += lengths[doc];
    if (bin_tokens[bin] < capacity) by_free.emplace(capacity - bin_tokens[bin], bin);
  }

  std::vector<std::size_t> bin_order(bins.size());
  for (std::size_t i = 0; i < bin_order.size(); ++i) bin_order[i] = i;
  rng.shuffle(bin_order);
  for (std::size_t b : bin_order) {
    plan.bins.push_back(std::move(bins[b]));
    plan.bin_tokens.push_back(bin_tokens[b]);
  }
  return plan;
}

}  // namespace cotrain
