// cotrain inspect: what a model directory holds and what training it would need.
#include <fmt/format.h>

#include <iostream>

#include "commands.h"
#include "cotrain/io/checkpoint.h"
#include "cotrain/model/config.h"
#include "cotrain/model/memory_estimate.h"

namespace cotrain::cli {
namespace {

struct InspectOptions {
  std::string model;
  bool json = false, tensors = false;
  std::int64_t seq_len = 16384, lora_rank = 64;
  std::string device = "cuda";
};

nlohmann::json estimate_json(const MemoryEstimate& m) {
  return {{"trainable_parameters", m.trainable_parameters}, {"weights_bytes", m.weights_bytes},
          {"training_state_bytes", m.training_state_bytes}, {"activation_bytes", m.activation_bytes}, {"total_bytes", m.total()}};
}

std::string gib(double bytes) { return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024.0 * 1024.0)); }

void run(const InspectOptions& o) {
  auto config = ModelConfig::load(o.model);
  CheckpointFiles checkpoint(o.model);
  const auto stats = checkpoint.stats();
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& name : checkpoint.names()) {
    const auto& info = *checkpoint.find(name)->info;
    tensors.push_back({{"name", name}, {"dtype", dtype_name(info.dtype)}, {"shape", info.shape}, {"bytes", info.end - info.begin}});
  }
  const bool on_cpu = o.device == "cpu";
  auto full = estimate_training_memory(config, o.seq_len, 0, on_cpu);
  auto lora = estimate_training_memory(config, o.seq_len, o.lora_rank, on_cpu);

  if (o.json) {
    nlohmann::json out = {
        {"model", o.model}, {"architecture", config.arch_name()}, {"config", config.to_hf_json()},
        {"parameters", stats.parameters}, {"config_parameters", config.num_parameters()},
        {"checkpoint", {{"tensors", stats.tensors}, {"bytes", stats.bytes}, {"dtypes", stats.tensors_by_dtype}}},
        {"memory", {{"seq_len", o.seq_len}, {"device", o.device}, {"full_sft", estimate_json(full)},
                    {"lora", estimate_json(lora)}, {"lora_rank", o.lora_rank}}},
        {"tensors", tensors}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::string dtype_list;
  for (const auto& [d, n] : stats.tensors_by_dtype) dtype_list += fmt::format("{}{} x{}", dtype_list.empty() ? "" : ", ", d, n);
  std::cout << fmt::format("model        {} ({})\n", o.model, config.arch_name());
  std::cout << fmt::format("shape        {} layers, hidden {}, intermediate {}, heads {}/{} (head_dim {}), vocab {}{}\n",
                           config.num_layers, config.hidden_size, config.intermediate_size, config.num_heads,
                           config.num_kv_heads, config.head_dim, config.vocab_size, config.tie_word_embeddings ? ", tied embeddings" : "");
  std::cout << fmt::format("rope         theta {:g}, scaling {}\n", config.rope_theta, config.rope_scaling.type);
  std::cout << fmt::format("parameters   {} ({:.3f}B)\n", stats.parameters, static_cast<double>(stats.parameters) / 1e9);
  std::cout << fmt::format("checkpoint   {} tensors, {} bytes ({})\n", stats.tensors, stats.bytes, dtype_list);
  std::cout << fmt::format("memory at seq_len {} ({}, bf16, AdamW, activation checkpointing):\n", o.seq_len, on_cpu ? "CPU" : "one GPU");
  for (auto [label, m] : {std::pair{"full SFT", full}, {"LoRA", lora}}) {
    std::cout << fmt::format("  {:<9}{}{:>11} total: weights {}, grads+optimizer {}, activations {} ({} trainable)\n", label,
                             std::string(label) == "LoRA" ? fmt::format("r={}", o.lora_rank) : std::string(4, ' '), gib(m.total()),
                             gib(m.weights_bytes), gib(m.training_state_bytes), gib(m.activation_bytes), m.trainable_parameters);
  }
  if (o.tensors) {
    for (const auto& t : tensors) {
      std::cout << fmt::format("  {:<60} {:<5} {}\n", t["name"].get<std::string>(), t["dtype"].get<std::string>(), t["shape"].dump());
    }
  }
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand("inspect", "Architecture, parameters, tensors and training memory of a model directory");
  cmd->add_option("--model", o->model, "model directory (config.json + safetensors)")->required();
  cmd->add_flag("--json", o->json, "print JSON (includes every tensor)");
  cmd->add_flag("--tensors", o->tensors, "list every tensor");
  cmd->add_option("--seq-len", o->seq_len, "sequence length for the memory estimate")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--lora-rank", o->lora_rank, "LoRA rank for the memory estimate")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--device", o->device, "the memory estimate's device: cuda (one GPU) or cpu (the loss differs)")
      ->check(CLI::IsMember({"cuda", "cpu"}))
      ->capture_default_str();
  cmd->callback([o] { run(*o); });
}

}  // namespace cotrain::cli
