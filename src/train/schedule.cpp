#include "cotrain/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "cotrain/core/error.h"

namespace cotrain {

Schedule make_schedule(const std::string& kind, double lr, std::int64_t total_steps, double warmup_ratio, double min_lr_ratio) {
  if (kind != "cosine" && kind != "linear" && kind != "constant") fail_input("train.schedule: unknown schedule \"{}\"", kind);
  Schedule s;
  s.kind = kind;
  s.lr = lr;
  s.total_steps = total_steps;
  s.warmup_steps = static_cast<std::int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
  s.min_lr_ratio = min_lr_ratio;
  return s;
}

double Schedule::lr_at(std::int64_t step) const {
  const auto k = static_cast<double>(step);
  if (step < warmup_steps) return lr * k / static_cast<double>(std::max<std::int64_t>(1, warmup_steps));
  if (kind == "constant") return lr;
  const double decay_steps = static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
  double factor;
  if (kind == "cosine") {
    const double progress = (k - static_cast<double>(warmup_steps)) / decay_steps;
    factor = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  } else {
    factor = std::max(0.0, (static_cast<double>(total_steps) - k) / decay_steps);
  }
  return lr * std::max(0.0, factor * (1 - min_lr_ratio) + min_lr_ratio);
}

}  // namespace cotrain
