#include "cotrain/eval/predictions.h"

#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"

namespace cotrain {

Predictions read_predictions(const std::filesystem::path& path, std::size_t problems, const ProblemOf& problem_of) {
  Predictions p;
  p.responses.resize(problems);
  std::vector<bool> seen(problems, false);
  for_each_jsonl(path, [&](nlohmann::json& row, std::size_t line) {
    const std::string at = where(path, line);
    if (!row.is_object()) fail_input("{}: expected a JSON object", at);
    std::vector<std::string> responses;
    if (auto r = row.find("responses"); r != row.end()) {
      if (!r->is_array() || r->empty()) fail_input("{}: field \"responses\" is not a non-empty list", at);
      for (const auto& x : *r) {
        if (!x.is_string()) fail_input("{}: field \"responses\" holds a non-string", at);
        responses.push_back(x.get<std::string>());
      }
    } else if (auto r1 = row.find("response"); r1 != row.end()) {
      if (!r1->is_string()) fail_input("{}: field \"response\" is not a string", at);
      responses.push_back(r1->get<std::string>());
    } else {
      fail_input("{}: missing field \"response\" (or \"responses\")", at);
    }
    std::string label;
    auto problem = problem_of(row, at, label);
    if (!problem) {
      ++p.unknown;
      if (p.unknown_examples.size() < 5) p.unknown_examples.push_back(at + " (" + label + ")");
      return;
    }
    if (seen[*problem]) {
      ++p.duplicates;
      if (p.duplicate_examples.size() < 5) p.duplicate_examples.push_back(at + " (" + label + ")");
      return;
    }
    seen[*problem] = true;
    p.responses[*problem] = std::move(responses);
  });
  return p;
}

}  // namespace cotrain
