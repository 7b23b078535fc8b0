#include "cotrain/generate/generation_config.h"

#include <nlohmann/json.hpp>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"

namespace cotrain {

std::vector<std::int64_t> read_eos_token_ids(const std::filesystem::path& model_dir) {
  for (const char* name : {"generation_config.json", "config.json"}) {
    const auto path = model_dir / name;
    if (!std::filesystem::exists(path)) continue;  // anything else there is read (and refused) by the input rule
    const nlohmann::json root = read_json_file(path);
    auto it = root.find("eos_token_id");
    if (!root.is_object() || it == root.end() || it->is_null()) continue;
    std::vector<std::int64_t> ids;
    for (const auto& id : it->is_array() ? *it : nlohmann::json::array({*it})) {
      if (!id.is_number_integer() || id.get<std::int64_t>() < 0) fail_input("{}: eos_token_id: not a token id ({})", path.string(), id.dump());
      ids.push_back(id.get<std::int64_t>());
    }
    return ids;
  }
  return {};
}

}  // namespace cotrain
