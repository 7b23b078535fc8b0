#include "cotrain/core/config.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

using Json = nlohmann::ordered_json;

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string type_name(ConfigType type) {
  switch (type) {
    case ConfigType::number: return "a number";
    case ConfigType::integer: return "an integer";
    case ConfigType::boolean: return "true or false";
    case ConfigType::string: return "a string";
    case ConfigType::numbers: return "a list of numbers";
    case ConfigType::strings: return "a string or a list of strings";
  }
  return "?";
}

// A short rendering of a bad value for error messages.
std::string shown(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// Returns the value in the key's canonical form (integers as integers), or throws.
Json checked(const ConfigKey& key, const Json& value, const std::string& origin) {
  auto bad = [&]() -> Json {
    fail_input("{}: {}: expected {} (got {})", origin, key.name, type_name(key.type), shown(value));
  };
  if (value.is_null()) {
    if (key.nullable) return value;
    fail_input("{}: {}: expected {} (got null)", origin, key.name, type_name(key.type));
  }
  switch (key.type) {
    case ConfigType::number:
      if (!value.is_number()) bad();
      if (!std::isfinite(value.get<double>())) bad();
      return value;
    case ConfigType::integer: {
      if (value.is_number_integer()) return value;
      if (!value.is_number_float()) bad();
      double v = value.get<double>();
      if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9.0e15) bad();
      return static_cast<std::int64_t>(v);
    }
    case ConfigType::boolean:
      if (!value.is_boolean()) bad();
      return value;
    case ConfigType::string:
      if (!value.is_string()) bad();
      if (!key.choices.empty() && std::find(key.choices.begin(), key.choices.end(), value.get<std::string>()) == key.choices.end()) {
        std::string list;
        for (const auto& c : key.choices) list += (list.empty() ? "" : ", ") + c;
        fail_input("{}: {}: expected one of {} (got {})", origin, key.name, list, shown(value));
      }
      return value;
    case ConfigType::numbers:
      if (!value.is_array()) bad();
      for (const auto& v : value) {
        if (!v.is_number()) bad();
      }
      return value;
    case ConfigType::strings:
      if (value.is_string()) return value;
      if (!value.is_array()) bad();
      for (const auto& v : value) {
        if (!v.is_string()) bad();
      }
      return value;
  }
  return value;
}

class Resolver {
 public:
  explicit Resolver(const std::vector<ConfigKey>& schema) : schema_(schema) {
    for (const auto& key : schema) {
      auto parts = split_key(key.name);
      std::string prefix;
      for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        prefix += (i ? "." : "") + parts[i];
        sections_.insert(prefix);
      }
      names_.push_back(key.name);
    }
  }

  const ConfigKey* find(const std::string& name) const {
    for (const auto& key : schema_) {
      if (key.name == name) return &key;
    }
    return nullptr;
  }

  [[noreturn]] void unknown(const std::string& name, const std::string& origin) const {
    std::vector<std::string> candidates = names_;
    candidates.insert(candidates.end(), sections_.begin(), sections_.end());
    std::string near = nearest_name(name, candidates);
    if (near.empty()) fail_input("{}: {}: unknown key", origin, name);
    fail_input("{}: {}: unknown key (did you mean {}?)", origin, name, near);
  }

  void set(const std::string& name, const Json& value, const std::string& origin) {
    const ConfigKey* key = find(name);
    if (!key) {
      // A whole section given as an object: {"train": {"lr": 1}} through --set train={"lr": 1}.
      if (sections_.count(name) && value.is_object()) {
        for (const auto& [child, child_value] : value.items()) set(name + "." + child, child_value, origin);
        return;
      }
      if (sections_.count(name)) fail_input("{}: {}: expected an object of keys (got {})", origin, name, shown(value));
      unknown(name, origin);
    }
    values_[name] = checked(*key, value, origin);
  }

  void set_file(const Json& object, const std::string& prefix, const std::string& origin) {
    for (const auto& [child, value] : object.items()) {
      std::string name = prefix.empty() ? child : prefix + "." + child;
      if (sections_.count(name) && value.is_object()) {
        set_file(value, name, origin);
      } else {
        set(name, value, origin);
      }
    }
  }

  Json tree() const {
    Json out = Json::object();
    for (const auto& key : schema_) {
      auto it = values_.find(key.name);
      const Json& value = it != values_.end() ? it->second : key.default_value;
      Json* node = &out;
      auto parts = split_key(key.name);
      for (std::size_t i = 0; i + 1 < parts.size(); ++i) node = &(*node)[parts[i]];
      (*node)[parts.back()] = value;
    }
    return out;
  }

 private:
  const std::vector<ConfigKey>& schema_;
  std::vector<std::string> names_;
  std::set<std::string> sections_;
  std::map<std::string, Json> values_;
};

}  // namespace

std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates) {
  // The same last component in another section ("lr" for "train.lr") is the likeliest meaning.
  auto last = [](std::string_view s) { return s.rfind('.') == std::string_view::npos ? s : s.substr(s.rfind('.') + 1); };
  for (const auto& c : candidates) {
    if (c != name && last(c) == last(name)) return c;
  }
  // A name that is the start of a key ("train.warmup" for "train.warmup_ratio"): the shortest such.
  std::string best;
  for (const auto& c : candidates) {
    if (c.size() > name.size() && c.starts_with(name) && (best.empty() || c.size() < best.size())) best = c;
  }
  if (!best.empty()) return best;
  std::size_t best_distance = std::string::npos;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(name, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  // Close enough to be a typo: at most a third of the name's length in edits (at least 2).
  return best_distance <= std::max<std::size_t>(2, name.size() / 3) ? best : "";
}

ConfigOverride parse_config_override(std::string_view assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    fail_input("--set {}: expected key=value (e.g. --set train.lr=1e-5)", assignment);
  }
  ConfigOverride o;
  o.key = std::string(assignment.substr(0, eq));
  o.origin = "--set";
  std::string text(assignment.substr(eq + 1));
  try {
    o.value = Json::parse(text);
  } catch (const Json::parse_error&) {
    o.value = text;
  }
  return o;
}

Json resolve_config(const std::vector<ConfigKey>& schema, const Json& file_json, const std::string& file_name,
                    const std::vector<ConfigOverride>& overrides) {
  Resolver resolver(schema);
  if (!file_json.is_null()) {
    if (!file_json.is_object()) fail_input("{}: expected a JSON object of settings", file_name);
    resolver.set_file(file_json, "", file_name);
  }
  for (const auto& o : overrides) resolver.set(o.key, o.value, o.origin);
  return resolver.tree();
}

const Json& config_value(const Json& tree, const std::string& key) {
  const Json* node = &tree;
  for (const auto& part : split_key(key)) {
    if (!node->is_object() || !node->contains(part)) fail_input("config has no key {}", key);
    node = &(*node)[part];
  }
  return *node;
}

}  // namespace cotrain
