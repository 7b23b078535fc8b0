// `cotrain eval --bench livecodebench`: judge model-written programs in the sandbox.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cotrain/eval/code/problems.h"

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
  std::size_t limit = 0;    // the first `limit` problems of the filtered set (0: all)
  // Or the responses themselves, by problem of the (limited) set, with truncation flags and the
  // generation's settings for the report (see MathEvalOptions).
  std::optional<std::vector<std::vector<std::string>>> responses;
  std::vector<std::vector<bool>> truncated;
  nlohmann::json generation;
  std::vector<std::string> carry_files;  // files copied into the output directory (e.g. generations)
};

// The problems an evaluation asks for: the filtered set, then the first `limit`.
std::vector<CodeProblem> livecodebench_problems(const LiveCodeBenchEvalOptions& options);

// SkyThought's LiveCodeBench prompt: "Generate an executable Python function generated from the
// given prompt. " + (stdin problems) "The function should take stdin as input and print the output.
// Simply call the function after the definition." / (functional) "Return the function body without
// invoking it at the final solution." + the question; functional problems get their starter code
// after a newline (as Sky-T1's training prompts have it; SkyThought's eval leaves it out, which
// hides the function name the tests call).
std::string livecodebench_prompt(const CodeProblem& problem);

// Judges, writes out_dir/results.jsonl and out_dir/report.json (when out_dir is set, an "eval"
// output, see core/atomic_file.h) and returns the report; throws InputError for bad input.
nlohmann::json run_livecodebench_eval(const LiveCodeBenchEvalOptions& options);

// The report as the summary `cotrain eval` prints.
std::string livecodebench_summary(const nlohmann::json& report);

}  // namespace cotrain
