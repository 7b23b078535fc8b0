#include "cotrain/eval/code/judge.h"

#include <signal.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "judge_harness.h"

namespace cotrain {

const std::vector<std::string>& all_verdicts() {
  static const std::vector<std::string> verdicts = {"passed",       "wrong answer",  "time limit",
                                                    "memory limit", "runtime error", "compile error"};
  return verdicts;
}

Judgement judge_program(const Sandbox& sandbox, const CodeProblem& problem, const std::string& code,
                        double timeout_s, const UidLease& uid) {
  if (code.find_first_not_of(" \t\r\n") == std::string::npos) return {"compile error", -1, 0, "no code block"};
  std::vector<CodeTest> tests = problem.all_tests();
  nlohmann::json spec = {{"inputs", nlohmann::json::array()},
                         {"outputs", nlohmann::json::array()},
                         {"fn_name", problem.functional() ? nlohmann::json(problem.func_name) : nlohmann::json()}};
  for (const CodeTest& t : tests) {
    spec["inputs"].push_back(t.input);
    spec["outputs"].push_back(t.output);
  }
  SandboxLimits limits;
  limits.wall_s = (timeout_s + 1) * static_cast<double>(tests.size()) + 5;  // lcb_runner's whole-sample bound
  limits.cpu_s = static_cast<int>(std::ceil(limits.wall_s)) + 1;
  std::vector<std::pair<std::string, std::string>> files = {
      {"harness.py", kJudgeHarness},
      {"solution.py", code},
      {"tests.json", spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)}};
  SandboxRun run = sandbox.run(files, "harness.py", {fmt::format("{}", timeout_s)}, limits, uid);

  Judgement j;
  j.seconds = run.seconds;
  int last_started = -1;
  std::size_t pos = 0;
  while (pos < run.output.size()) {
    std::size_t end = run.output.find('\n', pos);
    if (end == std::string::npos) break;  // a cut-off last line
    nlohmann::json line = nlohmann::json::parse(run.output.substr(pos, end - pos), nullptr, false);
    pos = end + 1;
    // Whatever the program wrote into the report stream is only ever its own sample's problem: a
    // line of the wrong shape is ignored, never trusted, never an error of the whole evaluation.
    if (!line.is_object()) continue;
    auto verdict = line.find("verdict"), test = line.find("test"), message = line.find("message");
    const bool test_ok = test != line.end() && test->is_number_integer() && test->get<std::int64_t>() >= -1 &&
                         test->get<std::int64_t>() < static_cast<std::int64_t>(tests.size());
    if (verdict != line.end() && verdict->is_string()) {
      j.verdict = verdict->get<std::string>();
      j.failed_test = test_ok ? test->get<int>() : -1;
      j.message = message != line.end() && message->is_string() ? message->get<std::string>() : "";
    } else if (test_ok) {
      last_started = test->get<int>();
    }
  }
  bool known = std::find(all_verdicts().begin(), all_verdicts().end(), j.verdict) != all_verdicts().end();
  if (known && !run.timed_out) return j;
  // No final line: the process tree ended (or was ended) before the harness could say anything.
  j.failed_test = last_started;
  if (run.timed_out || run.signal == SIGXCPU) {
    j.verdict = "time limit";
    j.message = "killed at the whole-sample limit";
  } else {
    j.verdict = "runtime error";
    j.message = run.signal ? fmt::format("killed by signal {}", run.signal) : fmt::format("exit status {}", run.exit_code);
  }
  return j;
}

}  // namespace cotrain
