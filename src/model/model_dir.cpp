#include "cotrain/model/model_dir.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <utility>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/io/safetensors.h"
#include "cotrain/model/dtype.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

// The directory side files come from: FROM itself, or the directory of a file given instead.
fs::path side_file_source(const fs::path& from) {
  const fs::path dir = fs::is_directory(from) ? from : from.parent_path();
  if (!fs::is_directory(dir)) fail_input("{}: no such directory", from.string());
  return dir;
}

bool has_tokenizer(const fs::path& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model"}) {
    if (fs::is_regular_file(dir / name)) return true;
  }
  return false;
}

void copy_side_files(const fs::path& from, const fs::path& to) {
  for (const auto& name : model_dir_side_files()) {
    if (!fs::is_regular_file(from / name)) continue;
    std::error_code ec;
    fs::copy_file(from / name, to / name, ec);
    if (ec) fail_runtime("cannot copy {} to {}: {}", (from / name).string(), (to / name).string(), ec.message());
  }
}

struct Shard {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::uint64_t bytes = 0;
};

std::vector<Shard> split_into_shards(CausalLM& model, std::uint64_t max_bytes) {
  std::vector<Shard> shards;
  Shard current;
  for (const auto& item : model->named_parameters()) {
    const auto bytes = static_cast<std::uint64_t>(item.value().nbytes());
    if (bytes > max_bytes) {  // a tensor larger than the limit gets a shard of its own
      shards.push_back({{{item.key(), item.value()}}, bytes});
      continue;
    }
    if (current.bytes + bytes > max_bytes) shards.push_back(std::exchange(current, {}));
    current.tensors.emplace_back(item.key(), item.value());
    current.bytes += bytes;
  }
  if (!current.tensors.empty()) shards.push_back(std::move(current));
  return shards;
}

void write_shard(const Shard& shard, const fs::path& path) {
  std::vector<torch::Tensor> keep;  // CPU copies live until the file is written
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, param] : shard.tensors) {
    auto t = param.detach().to(torch::kCPU).contiguous();
    keep.push_back(t);
    tensors.push_back({name, to_dtype(t.scalar_type()), t.sizes().vec(), t.data_ptr(), t.nbytes()});
  }
  write_safetensors(path, tensors);
}

}  // namespace

const std::vector<std::string>& model_dir_side_files() {
  static const std::vector<std::string> names = {"tokenizer.json", "tokenizer_config.json", "tokenizer.model",
                                                 "special_tokens_map.json", "added_tokens.json", "vocab.json",
                                                 "merges.txt", "chat_template.jinja", "generation_config.json"};
  return names;
}

void write_model_dir(CausalLM& model, const fs::path& out, const ModelDirOptions& options) {
  if (model->lora) fail_runtime("write_model_dir: the model has a LoRA adapter; merge it (merge_lora) or save it (save_peft_adapter)");
  ModelConfig config = model->config;
  config.dtype = hf_dtype_name(model->dtype());
  fs::path source;
  if (!options.copy_from.empty()) {
    source = side_file_source(options.copy_from);
    if (!has_tokenizer(source)) {
      if (options.require_tokenizer) fail_input("{}: no tokenizer.json, tokenizer_config.json or tokenizer.model there", options.copy_from.string());
      spdlog::warn("{} has no tokenizer files, so {} gets none", source.string(), out.string());
    }
  }

  AtomicDir dir(out, kModelDirKind);
  {
    AtomicFile file(dir.path() / "config.json");
    file.stream() << config.to_hf_json().dump(2) << "\n";
    file.commit();
  }
  auto shards = split_into_shards(model, options.max_shard_bytes);
  if (shards.size() == 1) {
    write_shard(shards[0], dir.path() / "model.safetensors");
  } else {
    nlohmann::json weight_map = nlohmann::json::object();
    std::uint64_t total_bytes = 0;
    std::int64_t total_parameters = 0;
    for (std::size_t i = 0; i < shards.size(); ++i) {
      const auto name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
      write_shard(shards[i], dir.path() / name);
      for (const auto& [tensor, param] : shards[i].tensors) {
        weight_map[tensor] = name;
        total_parameters += param.numel();
      }
      total_bytes += shards[i].bytes;
    }
    nlohmann::json index = {{"metadata", {{"total_size", total_bytes}, {"total_parameters", total_parameters}}},
                            {"weight_map", weight_map}};
    AtomicFile file(dir.path() / "model.safetensors.index.json");
    file.stream() << index.dump(2) << "\n";
    file.commit();
  }
  if (!source.empty()) copy_side_files(source, dir.path());
  dir.commit();
}

}  // namespace cotrain
