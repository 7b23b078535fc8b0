// `cotrain eval --bench math500|aime24|amc23|olympiadbench|minerva_math`: grade responses (a
// predictions file made elsewhere, or responses just generated) against a benchmark and write
// results.jsonl + report.json.
#pragma once
#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cotrain {

struct MathEvalOptions {
  std::string bench;
  std::string predictions;  // JSONL: {"idx": i, "response": "..."} or {"idx": i, "responses": [...]}
  // Or the responses themselves, by problem (of the first `limit` problems), e.g. just generated;
  // truncated[i][s] marks a response that hit the token limit, generation (settings, counts) is
  // recorded in the report.
  std::optional<std::vector<std::vector<std::string>>> responses;
  std::vector<std::vector<bool>> truncated;
  nlohmann::json generation;
  std::size_t limit = 0;    // grade the first `limit` problems only (0: all); accuracy is over them
  std::vector<std::string> carry_files;  // files copied into the output directory (e.g. generations)
  std::string data_file, data_dir;
  std::string out_dir;      // empty: print the table only
  bool strict = false;      // boxed answers only
  // Tokens in a response, for the mean response length; unset: length in characters only.
  std::function<std::size_t(std::string_view)> count_tokens;
  // Reflection keywords ("wait", "alternatively", ...; the Sky-T1 paper's counts) and how often
  // each occurs in a response; unset: not reported. The CLI passes the data area's matcher.
  std::vector<std::string> reflection_keywords;
  std::function<std::vector<std::size_t>(std::string_view)> count_keywords;
};

// Grades, writes DIR/results.jsonl and DIR/report.json atomically (as one directory) and returns
// the report. Throws InputError for bad input.
nlohmann::json run_math_eval(const MathEvalOptions& options);

// The report as the table `cotrain eval` prints.
std::string math_eval_summary(const nlohmann::json& report);

}  // namespace cotrain
