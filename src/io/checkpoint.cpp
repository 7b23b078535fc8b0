#include "cotrain/io/checkpoint.h"

#include <algorithm>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/signals.h"

namespace fs = std::filesystem;

namespace cotrain {

CheckpointFiles::CheckpointFiles(const fs::path& dir) : dir_(dir) {
  std::vector<fs::path> shards;
  std::unordered_map<std::string, std::string> weight_map;  // from the index, to cross-check
  fs::path index = dir / "model.safetensors.index.json";
  if (fs::is_regular_file(dir)) {
    shards.push_back(dir);
  } else if (fs::exists(index)) {
    auto json = read_json_file(index);
    auto wm = json.find("weight_map");
    if (!json.is_object() || wm == json.end() || !wm->is_object()) fail_input("{}: no weight_map object", index.string());
    for (auto& [name, shard] : wm->items()) {
      if (!shard.is_string()) fail_input("{}: weight_map['{}'] is not a file name", index.string(), name);
      auto file = shard.get<std::string>();
      if (file.find('/') != std::string::npos || file == "..") fail_input("{}: weight_map['{}'] = '{}' is not a file in the directory", index.string(), name, file);
      weight_map[name] = file;
      if (std::find(shards.begin(), shards.end(), dir / file) == shards.end()) shards.push_back(dir / file);
    }
  } else if (fs::exists(dir / "model.safetensors")) {
    shards.push_back(dir / "model.safetensors");
  } else {
    fail_input("{}: no model.safetensors or model.safetensors.index.json", dir.string());
  }

  for (const auto& shard : shards) {
    throw_if_stopped();
    auto file = SafetensorsFile::open(shard);
    for (const auto& info : file->header().tensors) {
      auto [it, inserted] = tensors_.emplace(info.name, CheckpointTensor{&info, file.get()});
      if (!inserted) fail_input("{}: tensor '{}' is also in {}", shard.string(), info.name, it->second.file->path().string());
    }
    files_.push_back(std::move(file));
  }
  for (const auto& [name, file] : weight_map) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) fail_input("{}: tensor '{}' listed for {} is not in that file", index.string(), name, file);
    if (it->second.file->path().filename() != file) {
      fail_input("{}: tensor '{}' listed for {} but found in {}", index.string(), name, file, it->second.file->path().string());
    }
  }
}

const CheckpointTensor* CheckpointFiles::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<std::string> CheckpointFiles::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

CheckpointStats CheckpointFiles::stats() const {
  CheckpointStats s;
  for (const auto& [name, t] : tensors_) {
    s.tensors += 1;
    s.parameters += t.info->numel();
    s.bytes += t.info->end - t.info->begin;
    s.tensors_by_dtype[std::string(dtype_name(t.info->dtype))] += 1;
  }
  return s;
}

}  // namespace cotrain
