// Learning-rate schedules, exactly transformers' get_{cosine,linear,constant}_schedule_with_warmup
// (cosine with min_lr_rate as get_cosine_with_min_lr_schedule_with_warmup). Step k (0-based: the
// k-th optimizer step) uses lr * factor(k); like the Trainer, the first step of a warm-up uses 0.
#pragma once
#include <cstdint>
#include <string>

namespace cotrain {

struct Schedule {
  std::string kind = "cosine";  // cosine | linear | constant
  double lr = 0;
  std::int64_t total_steps = 0;
  std::int64_t warmup_steps = 0;  // ceil(warmup_ratio * total_steps), as transformers' get_warmup_steps
  double min_lr_ratio = 0;        // the decay ends at lr * min_lr_ratio (cosine and linear)

  double lr_at(std::int64_t step) const;
};

Schedule make_schedule(const std::string& kind, double lr, std::int64_t total_steps, double warmup_ratio, double min_lr_ratio);

}  // namespace cotrain
