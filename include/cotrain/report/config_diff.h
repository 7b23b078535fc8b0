// Configs as flat key/value lists, and which keys tell runs apart: what an ablation reader looks
// for first ("train.lr: 1e-5 vs 1e-4").
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace cotrain {

// {"train": {"lr": 1e-5}} -> {"train.lr": "1e-05"}: nested objects become dotted keys; strings
// stay as they are, other values are compact JSON (numbers, booleans, lists, null).
std::map<std::string, std::string> flatten_config(const nlohmann::json& config);

// The keys whose values are not the same in every config, sorted; a key that some config lacks
// differs.
std::vector<std::string> differing_keys(const std::vector<std::map<std::string, std::string>>& configs);

}  // namespace cotrain
