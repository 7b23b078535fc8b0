// Small LiveCodeBench-style problems built in memory, a process-wide sandbox, and checks that the
// host was left alone (no process of the run's uid survives).
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cotrain/eval/code/judge.h"

namespace cotrain::test {

inline CodeProblem stdin_problem(const std::vector<std::pair<std::string, std::string>>& tests) {
  CodeProblem p;
  p.question_id = "test_stdin";
  p.difficulty = "easy";
  for (const auto& [in, out] : tests) p.public_tests.push_back({in, out, false});
  return p;
}

inline CodeProblem functional_problem(const std::string& func_name,
                                      const std::vector<std::pair<std::string, std::string>>& tests) {
  CodeProblem p;
  p.question_id = "test_" + func_name;
  p.difficulty = "medium";
  p.func_name = func_name;
  for (const auto& [in, out] : tests) p.public_tests.push_back({in, out, true});
  return p;
}

inline std::string python_for_tests() {
  const char* env = std::getenv("COTRAIN_TEST_PYTHON");
  return env && *env ? env : "python3";
}

inline const Sandbox& test_sandbox() {
  static const std::unique_ptr<Sandbox> sandbox = std::make_unique<Sandbox>(python_for_tests());
  return *sandbox;
}

// Processes on this machine running as the lease's uid. Only ours can be: while the lease is held
// no other run, here or in another process (ctest -j), has that uid. (As a normal user the lease is
// empty and the programs run as our own uid, inside namespaces: nothing to find then.)
inline std::vector<int> processes_of(const UidLease& uid) {
  std::vector<int> found;
  if (uid.uid() < 0) return found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("Uid:", 0) != 0) continue;
      if (std::atoi(line.c_str() + 4) == uid.uid()) found.push_back(std::stoi(name));
      break;
    }
  }
  return found;
}

inline Judgement judge(const CodeProblem& p, const std::string& code, double timeout_s, const UidLease& uid) {
  Judgement j = judge_program(test_sandbox(), p, code, timeout_s, uid);
  EXPECT_TRUE(processes_of(uid).empty()) << "a sandboxed process outlived its run";
  return j;
}

inline Judgement judge(const CodeProblem& p, const std::string& code, double timeout_s = 2.0) {
  return judge(p, code, timeout_s, test_sandbox().lease_uid());
}

}  // namespace cotrain::test
