// `cotrain sft` and `cotrain lora`: one training run from a resolved config to OUT/final, in one
// readable recipe (src/train/recipe.cpp): config -> token cache -> model -> optimizer and schedule
// -> step loop -> validation -> export. The run directory's files are those of CONTRACTS.md.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "cotrain/train/config.h"

namespace cotrain {

struct TrainResult {
  std::string status;  // completed | stopped
  std::int64_t steps_done = 0, total_steps = 0;
  double last_loss = 0;        // the last step's loss
  double val_loss = -1;        // the last validation loss (-1: no validation set)
  std::filesystem::path final_dir;  // OUT/final when completed
  int stop_signal = 0;         // when stopped
};

// Runs the training CONFIG describes. A stop signal (SIGINT/SIGTERM) ends it after the current
// optimizer step with status "stopped"; bad input throws InputError, a non-finite loss or
// gradient norm RuntimeFailure naming the step. Either way OUT/run.json tells what happened and
// no output is half-written.
TrainResult run_training(const TrainConfig& config);

}  // namespace cotrain
