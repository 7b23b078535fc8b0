#include "cotrain/train/config.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"

namespace cotrain {
namespace {

using Json = nlohmann::ordered_json;

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::vector<std::string> as_strings(const Json& value) {
  if (value.is_null()) return {};
  if (value.is_string()) return {value.get<std::string>()};
  return value.get<std::vector<std::string>>();
}

template <class T>
void require(bool ok, const std::string& key, const std::string& what, const T& got) {
  if (!ok) fail_input("{}: {} (got {})", key, what, got);
}

}  // namespace

std::string train_mode_name(TrainMode mode) { return mode == TrainMode::sft ? "sft" : "lora"; }

std::vector<ConfigKey> train_config_schema(TrainMode mode) {
  using T = ConfigType;
  std::vector<ConfigKey> keys = {
      {"model.path", T::string, nullptr, {}, true},
      {"model.dtype", T::string, "bf16", {"fp32", "bf16"}},
      {"model.device", T::string, "auto"},
      {"data.path", T::strings, nullptr, {}, true},
      {"data.template", T::string, "auto"},
      {"data.system", T::string, nullptr, {}, true},
      {"data.cutoff", T::integer, 16384},
      {"data.pack", T::boolean, false},
      {"data.val_fraction", T::number, 0},
      {"data.val_path", T::string, nullptr, {}, true},
      {"train.epochs", T::number, 3},
      {"train.max_steps", T::integer, 0},
      {"train.global_batch", T::integer, 96},
      {"train.micro_batch", T::integer, 1},
      {"train.lr", T::number, mode == TrainMode::sft ? 1e-5 : 1e-4},
      {"train.schedule", T::string, "cosine", {"cosine", "linear", "constant"}},
      {"train.warmup_ratio", T::number, 0.1},
      {"train.min_lr_ratio", T::number, 0},
      {"train.weight_decay", T::number, 0},
      {"train.adam_betas", T::numbers, Json::array({0.9, 0.999})},
      {"train.adam_eps", T::number, 1e-8},
      {"train.max_grad_norm", T::number, 1.0},
      {"train.seed", T::integer, 42},
      {"train.activation_checkpointing", T::boolean, true},
      {"train.log_every", T::integer, 1},
      {"train.eval_every", T::integer, 0},
      {"train.save_every", T::integer, 0},
      {"train.keep_checkpoints", T::integer, 2},
  };
  if (mode == TrainMode::lora) {
    std::vector<ConfigKey> lora = {
        {"lora.rank", T::integer, 8},
        {"lora.alpha", T::number, nullptr, {}, true},  // null: 2 x rank
        {"lora.dropout", T::number, 0},
        {"lora.targets", T::strings, "all-linear"},
        {"lora.rslora", T::boolean, false},
        {"lora.init", T::string, nullptr, {}, true},
    };
    keys.insert(keys.end(), lora.begin(), lora.end());
  }
  keys.push_back({"dist.shard", T::string, "none", {"none", "optimizer", "grads", "params"}});
  keys.push_back({"dist.timeout_s", T::number, 1800});
  keys.push_back({"dist.offload", T::boolean, false});
  keys.push_back({"output.dir", T::string, nullptr, {}, true});
  return keys;
}

bool changes_training_math(const std::string& key) {
  static const std::set<std::string> bookkeeping = {"train.log_every", "train.eval_every", "train.save_every", "train.keep_checkpoints",
                                                    "output.dir"};
  return !bookkeeping.contains(key);
}

std::vector<std::string> math_config_differences(const Json& saved, const Json& current) {
  std::set<std::string> keys;
  auto collect = [&](const Json& config) {
    for (const auto& [section, values] : config.items()) {
      if (!values.is_object()) {
        keys.insert(section);
        continue;
      }
      for (const auto& [name, value] : values.items()) keys.insert(section + "." + name);
    }
  };
  collect(saved);
  collect(current);
  auto value = [](const Json& config, const std::string& key) {
    std::string path = "/" + key;
    std::replace(path.begin(), path.end(), '.', '/');
    const Json::json_pointer pointer(path);
    return config.contains(pointer) ? config.at(pointer) : Json();
  };
  std::vector<std::string> out;
  for (const auto& key : keys) {
    if (changes_training_math(key) && value(saved, key) != value(current, key)) out.push_back(key);
  }
  return out;
}

TrainConfig load_train_config(TrainMode mode, const std::string& file, const std::vector<ConfigOverride>& overrides) {
  Json file_json;
  const std::string source = file.empty() ? "config" : file;
  if (!file.empty()) file_json = Json(read_json_file(file));
  if (mode == TrainMode::sft) {  // a clearer word than "unknown key" for a LoRA config given to sft
    bool lora = file_json.is_object() && file_json.contains("lora");
    for (const auto& o : overrides) lora = lora || o.key == "lora" || o.key.starts_with("lora.");
    if (lora) fail_input("{}: lora: LoRA settings are for `cotrain lora`, not `cotrain sft`", source);
  }
  TrainConfig c;
  c.mode = mode;
  c.resolved = resolve_config(train_config_schema(mode), file_json, source, overrides);
  const Json& r = c.resolved;

  auto required = [&](const Json& value, const std::string& key, const std::string& flag) {
    if (value.is_null()) fail_input("{}: {} is required (set it in the config or with {})", source, key, flag);
  };
  required(r["model"]["path"], "model.path", "--model");
  required(r["data"]["path"], "data.path", "--data");
  required(r["output"]["dir"], "output.dir", "--out");
  c.model.path = r["model"]["path"];
  c.model.dtype = r["model"]["dtype"];
  c.model.device = r["model"]["device"];
  c.output_dir = r["output"]["dir"];

  c.data.paths = as_strings(r["data"]["path"]);
  require(!c.data.paths.empty(), "data.path", "needs at least one path", "[]");
  c.data.template_name = r["data"]["template"];
  if (!r["data"]["system"].is_null()) c.data.system = r["data"]["system"].get<std::string>();
  c.data.cutoff = r["data"]["cutoff"];
  require(c.data.cutoff >= 0, "data.cutoff", "must be >= 0 (0: no cutoff)", c.data.cutoff);
  c.data.pack = r["data"]["pack"];
  require(!c.data.pack || c.data.cutoff > 0, "data.pack", "needs data.cutoff > 0 (the packed row length)", c.data.cutoff);
  c.data.val_fraction = r["data"]["val_fraction"];
  require(c.data.val_fraction >= 0 && c.data.val_fraction < 1, "data.val_fraction", "must be in [0, 1)", c.data.val_fraction);
  if (!r["data"]["val_path"].is_null()) c.data.val_path = r["data"]["val_path"];
  if (!c.data.val_path.empty() && c.data.val_fraction > 0) {
    fail_input("data.val_path: give a validation set or data.val_fraction, not both");
  }

  const Json& t = r["train"];
  c.train.epochs = t["epochs"];
  require(c.train.epochs > 0, "train.epochs", "must be > 0", c.train.epochs);
  c.train.max_steps = t["max_steps"];
  require(c.train.max_steps >= 0, "train.max_steps", "must be >= 0 (0: use train.epochs)", c.train.max_steps);
  c.train.global_batch = t["global_batch"];
  require(c.train.global_batch > 0, "train.global_batch", "must be > 0", c.train.global_batch);
  c.train.micro_batch = t["micro_batch"];
  require(c.train.micro_batch > 0, "train.micro_batch", "must be > 0", c.train.micro_batch);
  if (c.train.micro_batch > c.train.global_batch) {
    fail_input("train.micro_batch: must be at most train.global_batch ({} > {})", c.train.micro_batch, c.train.global_batch);
  }
  c.train.lr = t["lr"];
  require(c.train.lr > 0, "train.lr", "must be > 0", c.train.lr);
  c.train.schedule = t["schedule"];
  c.train.warmup_ratio = t["warmup_ratio"];
  require(c.train.warmup_ratio >= 0 && c.train.warmup_ratio <= 1, "train.warmup_ratio", "must be in [0, 1]", c.train.warmup_ratio);
  c.train.min_lr_ratio = t["min_lr_ratio"];
  require(c.train.min_lr_ratio >= 0 && c.train.min_lr_ratio <= 1, "train.min_lr_ratio", "must be in [0, 1]", c.train.min_lr_ratio);
  c.train.weight_decay = t["weight_decay"];
  require(c.train.weight_decay >= 0, "train.weight_decay", "must be >= 0", c.train.weight_decay);
  const Json& betas = t["adam_betas"];
  require(betas.size() == 2, "train.adam_betas", "expected two numbers [beta1, beta2]", betas.dump());
  c.train.beta1 = betas[0];
  c.train.beta2 = betas[1];
  for (double b : {c.train.beta1, c.train.beta2}) require(b >= 0 && b < 1, "train.adam_betas", "each must be in [0, 1)", betas.dump());
  c.train.adam_eps = t["adam_eps"];
  require(c.train.adam_eps > 0, "train.adam_eps", "must be > 0", c.train.adam_eps);
  c.train.max_grad_norm = t["max_grad_norm"];
  require(c.train.max_grad_norm >= 0, "train.max_grad_norm", "must be >= 0 (0: no clipping)", c.train.max_grad_norm);
  std::int64_t seed = t["seed"];
  require(seed >= 0, "train.seed", "must be >= 0", seed);
  c.train.seed = static_cast<std::uint64_t>(seed);
  c.train.activation_checkpointing = t["activation_checkpointing"];
  c.train.log_every = t["log_every"];
  require(c.train.log_every > 0, "train.log_every", "must be > 0", c.train.log_every);
  c.train.eval_every = t["eval_every"];
  require(c.train.eval_every >= 0, "train.eval_every", "must be >= 0 (0: validate at the end only)", c.train.eval_every);
  c.train.save_every = t["save_every"];
  require(c.train.save_every >= 0, "train.save_every", "must be >= 0 (0: checkpoint at the end or when stopped only)", c.train.save_every);
  c.train.keep_checkpoints = t["keep_checkpoints"];
  require(c.train.keep_checkpoints >= 1, "train.keep_checkpoints", "must be >= 1", c.train.keep_checkpoints);

  const Json& d = r["dist"];
  c.dist.shard = d["shard"];
  c.dist.timeout_s = d["timeout_s"];
  require(c.dist.timeout_s > 0, "dist.timeout_s", "must be > 0", c.dist.timeout_s);
  c.dist.offload = d["offload"];

  if (mode == TrainMode::lora) {
    Json& l = c.resolved["lora"];
    c.lora.rank = l["rank"];
    require(c.lora.rank > 0, "lora.rank", "must be > 0", c.lora.rank);
    if (l["alpha"].is_null()) l["alpha"] = 2 * c.lora.rank;  // LLaMA-Factory's default; recorded as used
    c.lora.alpha = l["alpha"];
    require(c.lora.alpha > 0, "lora.alpha", "must be > 0", c.lora.alpha);
    c.lora.dropout = l["dropout"];
    require(c.lora.dropout >= 0 && c.lora.dropout < 1, "lora.dropout", "must be in [0, 1)", c.lora.dropout);
    auto targets = as_strings(l["targets"]);
    require(!targets.empty(), "lora.targets", "needs at least one module", "[]");
    for (const auto& name : targets) {
      const auto& known = lora_module_names();
      if (name != "all-linear" && std::find(known.begin(), known.end(), name) == known.end()) {
        fail_input("lora.targets: unknown module \"{}\" (all-linear or a list of: {})", name, join(known));
      }
    }
    c.lora.targets = targets;
    c.lora.rslora = l["rslora"];
    if (!l["init"].is_null()) c.lora.init = l["init"];
  }
  return c;
}

}  // namespace cotrain
