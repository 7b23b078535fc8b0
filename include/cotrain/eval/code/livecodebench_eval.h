// `cotrain eval --bench livecodebench`: judge model-written programs in the sandbox.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cotrain {

struct LiveCodeBenchEvalOptions {
  std::string data;         // code_generation_lite JSONL
  std::string predictions;  // {"question_id", "response"} or {"question_id", "responses": [...]}
  std::string out_dir;      // results.jsonl + report.json
  int jobs = 1;
  double timeout_s = 6.0;   // per test
  std::string release;      // e.g. "v2"; empty = all
  std::string since, until; // contest_date window (ISO dates), empty = open
  std::string python = "python3";
  std::vector<std::string> difficulties, platforms;  // empty = all
};

// Judges, writes out_dir/results.jsonl and out_dir/report.json (when out_dir is set) and returns
// the report; throws InputError for bad input.
nlohmann::json run_livecodebench_eval(const LiveCodeBenchEvalOptions& options);

// The report as the summary `cotrain eval` prints.
std::string livecodebench_summary(const nlohmann::json& report);

}  // namespace cotrain
