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
  std::filesystem::path final_dir;  // OUT/final when completed (rank 0)
  int stop_signal = 0;         // when stopped
  bool writes_outputs = true;  // this process wrote OUT: a job of one, or rank 0 of several
  std::int64_t resumed_from = 0;  // the checkpoint's step when resumed
};

struct ResumeOptions {
  bool required = false;  // --resume: a usable checkpoint must exist
  bool force = false;     // --resume-force: continue from it even when the math changed
};

// Runs the training CONFIG describes, as a job of one or as this rank of the job the launcher's
// environment describes (torchrun, SLURM, RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT). When OUT
// holds a checkpoint (OUT/checkpoints/step-N, see train/checkpoint.h) the run continues from the
// newest valid one, as if it had never stopped, on any number of ranks; one trained with other
// math (changes_training_math) or data is an InputError naming the keys, unless RESUME.force. A
// stop signal (SIGINT/SIGTERM) ends the run after the current optimizer step with a checkpoint and
// status "stopped"; bad input throws InputError, a non-finite loss or
// gradient norm RuntimeFailure naming the step. Either way OUT/run.json tells what happened and
// no output is half-written.
TrainResult run_training(const TrainConfig& config, const ResumeOptions& resume = {});

}  // namespace cotrain
