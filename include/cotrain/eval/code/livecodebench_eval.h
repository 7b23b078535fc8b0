// `cotrain eval --bench livecodebench`: judge model-written programs in the sandbox.
#pragma once
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

// Prints a summary table to stdout; throws InputError for bad input.
void run_livecodebench_eval(const LiveCodeBenchEvalOptions& options);

}  // namespace cotrain
