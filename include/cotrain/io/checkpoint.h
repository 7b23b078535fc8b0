// A Hugging Face model directory's weights: model.safetensors, or shards listed in
// model.safetensors.index.json. Gives every tensor by name across the shards.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cotrain/io/safetensors.h"

namespace cotrain {

struct CheckpointTensor {
  const TensorInfo* info;
  const SafetensorsFile* file;
};

// What a checkpoint holds, counted over every tensor of every shard.
struct CheckpointStats {
  std::int64_t tensors = 0;
  std::int64_t parameters = 0;  // elements
  std::uint64_t bytes = 0;
  std::map<std::string, std::int64_t> tensors_by_dtype;  // "BF16" -> count
};

class CheckpointFiles {
 public:
  // DIR holds model.safetensors or model.safetensors.index.json (+ shards); DIR may also be a
  // single .safetensors file. Every shard is opened and validated; a name in the index that is
  // missing from its shard (or present in two shards) is an InputError.
  explicit CheckpointFiles(const std::filesystem::path& dir);

  const CheckpointTensor* find(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  CheckpointStats stats() const;
  const std::filesystem::path& dir() const { return dir_; }  // as given, for messages

 private:
  std::filesystem::path dir_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::unordered_map<std::string, CheckpointTensor> tensors_;
};

}  // namespace cotrain
