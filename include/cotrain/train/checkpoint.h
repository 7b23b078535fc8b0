// Resumable checkpoints of a training run, OUT/checkpoints/step-N/ (docs/training.md):
//   model.safetensors      the trainable weights, by parameter name
//   optimizer.safetensors  AdamW's state by parameter name: exp_avg.NAME, exp_avg_sq.NAME, and master.NAME
//                          (the fp32 master) where the weights are not fp32; the step count is checkpoint.json's
//   rng.safetensors        the state of every random generator the run draws from (uint8)
//   checkpoint.json        where the run is (step, epoch, position), the config it was trained with
//                          and the hashes that identify its math and data, each file's size
// Tensors are full and unsharded, keyed by name, so any number of processes reads what any number
// wrote: the distributed trainer gathers its shards group by group as the files take them. A checkpoint
// is written through AtomicDir (kind "checkpoint") with every file fsync'd before the rename, so
// it is complete or absent even when the process or the machine dies mid-write.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cotrain/model/causal_lm.h"
#include "cotrain/train/sharding.h"

namespace cotrain {

inline constexpr const char* kCheckpointKind = "checkpoint";  // its AtomicDir kind

using NamedTensors = std::map<std::string, torch::Tensor>;

struct CheckpointInfo {
  std::int64_t step = 0;      // optimizer steps done
  std::int64_t epoch = 0;     // the epoch being trained
  std::int64_t position = 0;  // documents of that epoch's order already trained on
  double elapsed_s = 0;       // the run's time so far (a resumed run's clock goes on from it)
  std::string config_hash;    // of the keys that change the math (changes_training_math)
  std::string data_hash;      // of the token cache the run trains on
  nlohmann::ordered_json config;  // the resolved config, to name the keys that differ
};

struct TrainingCheckpoint {
  CheckpointInfo info;
  NamedTensors weights, optimizer, rng;
};

// A tensor file's contents as they come, one tensor at a time: SPECS in the order FILL hands the
// tensors to its sink. A distributed run's state, gathered group by group, is written as it comes:
// the writing rank holds one group of it at a time, not the whole state (~460 GB for a 32B model).
using TensorSink = std::function<void(const std::string& name, const torch::Tensor& tensor)>;
struct TensorStream {
  std::vector<TensorSpec> specs;
  std::function<void(const TensorSink&)> fill;
};

// Writes DIR (OUT/checkpoints/step-N), atomically and durably, running WEIGHTS' and OPTIMIZER's
// fills once each; a tensor that is not its spec's (name, dtype, shape) is an InputError.
void save_checkpoint(const std::filesystem::path& dir, const CheckpointInfo& info, const TensorStream& weights,
                     const TensorStream& optimizer, const NamedTensors& rng);

// Reads DIR back (tensors view its memory-mapped files). A missing or short file, bad JSON or an invalid safetensors file is
// an InputError naming the file.
TrainingCheckpoint read_checkpoint(const std::filesystem::path& dir);

// The newest checkpoint under ROOT that reads back; each newer one that does not is skipped with
// a warning naming it and why. Empty when none does.
std::optional<TrainingCheckpoint> read_latest_checkpoint(const std::filesystem::path& root);

// The checkpoint directories under ROOT (step-N, nothing else), newest first.
std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& root);

// Removes all but the newest KEEP checkpoints under ROOT.
void prune_checkpoints(const std::filesystem::path& root, std::int64_t keep);

// Hash of the resolved config's keys that change the math (16 hex digits).
std::string config_hash(const nlohmann::ordered_json& resolved);

// The states of the generators a training step draws from: "torch.cpu" (torch's default CPU
// generator), "torch.cuda" (the default CUDA generator, when CUDA is available) and
// "lora_dropout" (the model's lora_dropout_generator, when it has an adapter).
NamedTensors rng_states(CausalLM& model);
// Puts them back; a generator the run uses but the checkpoint lacks is an InputError naming WHERE.
void restore_rng_states(CausalLM& model, const NamedTensors& states, const std::string& where);

}  // namespace cotrain
