#include "cotrain/data/token_input.h"

#include <nlohmann/json.hpp>

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"

namespace cotrain {

std::vector<std::vector<std::int64_t>> read_token_sequences(const std::filesystem::path& path, std::int64_t vocab,
                                                            const std::function<const Tokenizer&()>& tokenizer) {
  std::vector<std::vector<std::int64_t>> out;
  for_each_jsonl(path, [&](nlohmann::json& row, std::size_t line) {
    const auto at = where(path, line);
    if (!row.is_object()) fail_input("{}: expected an object with input_ids or text", at);
    std::vector<std::int64_t> ids;
    if (auto it = row.find("input_ids"); it != row.end()) {
      if (!it->is_array()) fail_input("{}: input_ids is not a list", at);
      for (std::size_t i = 0; i < it->size(); ++i) {
        const auto& v = (*it)[i];
        if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= vocab) {
          fail_input("{}: input_ids[{}] = {} is not a token id of this model (0..{})", at, i, v.dump(), vocab - 1);
        }
        ids.push_back(v.get<std::int64_t>());
      }
    } else if (auto text = row.find("text"); text != row.end()) {
      if (!text->is_string()) fail_input("{}: text is not a string", at);
      for (auto id : tokenizer().encode(text->get<std::string>())) {
        if (id >= vocab) fail_input("{}: the tokenizer gives id {} beyond the model's vocabulary ({})", at, id, vocab);
        ids.push_back(id);
      }
    } else {
      fail_input("{}: expected an object with input_ids or text", at);
    }
    if (ids.empty()) fail_input("{}: empty sequence", at);
    out.push_back(std::move(ids));
  });
  return out;
}

}  // namespace cotrain
