// Judging one program against a problem's tests, inside the sandbox, with lcb_runner's semantics:
// stdin programs compared line by line (stripped, Decimal fallback), functional ones called as
// Solution().<func_name>(*args) with `==`; checking stops at the first failing test.
#pragma once
#include <string>

#include "cotrain/eval/code/problems.h"
#include "cotrain/eval/code/sandbox.h"

namespace cotrain {

// "passed", "wrong answer", "time limit", "memory limit", "runtime error", "compile error".
struct Judgement {
  std::string verdict;
  int failed_test = -1;  // index into CodeProblem::all_tests(); -1 when passed or not test-specific
  double seconds = 0;    // wall time of the whole sample, sandbox included
  std::string message;   // the exception, for a reader; not part of the verdict
};

const std::vector<std::string>& all_verdicts();

// timeout_s is per test; the whole sample is killed after (timeout_s + 1) * tests + 5 seconds.
// The program runs as uid (from sandbox.lease_uid()).
Judgement judge_program(const Sandbox& sandbox, const CodeProblem& problem, const std::string& code,
                        double timeout_s, const UidLease& uid);

}  // namespace cotrain
