#include "cotrain/report/config_diff.h"

#include <set>

namespace cotrain {
namespace {

void flatten_into(const nlohmann::json& value, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (value.is_object() && (!value.empty() || prefix.empty())) {  // an empty nested object stays as "{}"
    for (const auto& [key, item] : value.items()) flatten_into(item, prefix.empty() ? key : prefix + "." + key, out);
    return;
  }
  out[prefix] = value.is_string() ? value.get<std::string>()
                                  : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::map<std::string, std::string> flatten_config(const nlohmann::json& config) {
  std::map<std::string, std::string> out;
  if (!config.is_null()) flatten_into(config, "", out);
  return out;
}

std::vector<std::string> differing_keys(const std::vector<std::map<std::string, std::string>>& configs) {
  std::set<std::string> keys;
  for (const auto& config : configs)
    for (const auto& [key, value] : config) keys.insert(key);
  std::vector<std::string> out;
  for (const std::string& key : keys) {
    const std::string* first = nullptr;
    bool differs = false;
    for (const auto& config : configs) {
      auto it = config.find(key);
      if (it == config.end()) {
        differs = true;
        break;
      }
      if (first && *first != it->second) differs = true;
      first = &it->second;
    }
    if (differs) out.push_back(key);
  }
  return out;
}

}  // namespace cotrain
