// Typed, nested JSON configuration with command-line overrides (`--set key=value`), shared by
// every command that takes a config file. A schema lists the known keys (dotted names such as
// "train.lr") with their types and defaults; resolving a file and overrides against it gives the
// full nested tree with every key filled in, or a one-line InputError naming the source and key:
//   config.json: train.lr: expected a number (got "x")
//   --set train.lrr: unknown key (did you mean train.lr?)
// Torch-free. The typed structs built from the tree live with their commands (e.g. train/).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace cotrain {

enum class ConfigType {
  number,   // any JSON number
  integer,  // a number with no fractional part (1e3 is accepted as 1000)
  boolean,
  string,
  numbers,  // a list of numbers
  strings,  // a list of strings, or one string (kept as given)
};

struct ConfigKey {
  std::string name;  // dotted path: "train.lr"
  ConfigType type = ConfigType::string;
  nlohmann::ordered_json default_value;  // null: no default (nullable or required)
  std::vector<std::string> choices = {};  // allowed values of a string key (empty: any)
  bool nullable = false;                  // null is a valid value
};

// One `--set key=value`: the value is parsed as JSON, and taken as a plain string when that fails
// (so `--set data.path=traces.jsonl` and `--set train.lr=1e-4` both work).
struct ConfigOverride {
  std::string key;
  nlohmann::ordered_json value;
  std::string origin;  // named in errors, e.g. "--set train.lr" or "--rank"
};
ConfigOverride parse_config_override(std::string_view assignment);  // "key=value"

// FILE_JSON (an object, or null for no file) named FILE_NAME in errors, then each override in
// order, checked against SCHEMA: unknown keys name the nearest known one, values are type-checked,
// and every key missing from both takes its default.
nlohmann::ordered_json resolve_config(const std::vector<ConfigKey>& schema, const nlohmann::ordered_json& file_json,
                                      const std::string& file_name, const std::vector<ConfigOverride>& overrides);

// The value at a dotted key of a resolved tree (InputError when absent: a schema/code mismatch).
const nlohmann::ordered_json& config_value(const nlohmann::ordered_json& tree, const std::string& key);

// The candidate closest to NAME by edit distance, or "" when none is reasonably close.
std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace cotrain
