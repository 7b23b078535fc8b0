// The settings of a training run (`cotrain sft` / `cotrain lora`): every config key, its type
// and default (docs/training.md lists them), resolved from a JSON file and --set overrides
// through core/config.h, then checked for ranges and consistency. Torch-free.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cotrain/core/config.h"
#include "cotrain/model/lora_settings.h"

namespace cotrain {

enum class TrainMode { sft, lora };
std::string train_mode_name(TrainMode mode);  // "sft" | "lora"

struct TrainConfig {
  TrainMode mode = TrainMode::sft;
  nlohmann::ordered_json resolved;  // every key with defaults filled in: OUT/config.json

  struct Model {
    std::string path;
    std::string dtype = "bf16";   // fp32 | bf16 (bf16 keeps fp32 master weights and moments)
    std::string device = "auto";  // cpu | cuda | cuda:N | auto
  } model;

  struct Data {
    std::vector<std::string> paths;  // a token cache directory, or JSONL trace files
    std::string template_name = "auto";  // chat template; auto: detected from the model's tokenizer
    std::optional<std::string> system;   // replaces every record's system prompt
    std::int64_t cutoff = 16384;         // longest document in tokens (longer ones are dropped)
    bool pack = false;                   // pack each step's documents into rows of `cutoff` tokens
    double val_fraction = 0;             // share of the documents held out for validation
    std::string val_path;                // or a separate validation set (cache or JSONL)
  } data;

  struct Train {
    double epochs = 3;
    std::int64_t max_steps = 0;       // > 0: overrides epochs
    std::int64_t global_batch = 96;   // documents per optimizer step
    std::int64_t micro_batch = 1;     // documents per forward pass (unpacked)
    double lr = 1e-5;
    std::string schedule = "cosine";  // cosine | linear | constant (transformers' *_with_warmup)
    double warmup_ratio = 0.1, min_lr_ratio = 0, weight_decay = 0;
    double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
    double max_grad_norm = 1.0;       // 0: no clipping
    std::uint64_t seed = 42;
    bool activation_checkpointing = true;
    std::int64_t log_every = 1;       // progress line every N steps
    std::int64_t eval_every = 0;      // validation every N steps (0: only at the end)
    std::int64_t save_every = 0;      // checkpoint every N steps (0: only at the end or when stopped)
    std::int64_t keep_checkpoints = 2;  // the last K checkpoints stay on disk
  } train;

  struct Lora {
    std::int64_t rank = 8;
    double alpha = 16;                // default 2 x rank (LLaMA-Factory's)
    double dropout = 0;
    std::vector<std::string> targets = {"all-linear"};  // module names (lora_module_names()) or "all-linear"
    bool rslora = false;
    std::string init;                  // a PEFT adapter directory to start from (its settings replace these)
  } lora;

  // Data parallelism over the ranks of a torchrun/SLURM job (docs/distributed.md).
  struct Dist {
    std::string shard = "none";  // none | optimizer (ZeRO-1) | grads (ZeRO-2) | params (ZeRO-3)
    double timeout_s = 1800;     // every rendezvous and collective wait (torch's default)
    bool offload = false;        // fp32 master weights and moments in CPU memory
  } dist;

  std::string output_dir;
};

// The known keys of a command's config, with types and defaults.
std::vector<ConfigKey> train_config_schema(TrainMode mode);

// The keys that change what a run computes: all but those that only say what is logged, saved or
// evaluated when, and where. A resume refuses to continue a checkpoint whose config differs in one.
bool changes_training_math(const std::string& key);

// The keys (dotted, sorted) whose values differ between two resolved configs and change the math.
std::vector<std::string> math_config_differences(const nlohmann::ordered_json& saved, const nlohmann::ordered_json& current);

// Resolves FILE (empty: none) and OVERRIDES, checks every value, and returns the typed settings.
// Errors are InputErrors naming the source and key: "config.json: train.lr: expected a number".
TrainConfig load_train_config(TrainMode mode, const std::string& file, const std::vector<ConfigOverride>& overrides);

}  // namespace cotrain
