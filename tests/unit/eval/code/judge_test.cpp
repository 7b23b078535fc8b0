// Verdicts for small problems in the LiveCodeBench format, run in the real sandbox.
#include "cotrain/eval/code/judge.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"

#include "code_test_support.h"

namespace cotrain {
namespace {

using test::functional_problem;
using test::judge;
using test::stdin_problem;

const CodeProblem kSum = stdin_problem({{"1 2\n", "3\n"}, {"10 -4\n", "6\n"}, {"5 5\n", "10\n"}});

TEST(JudgeStdin, CorrectProgramPasses) {
  Judgement j = judge(kSum, "a, b = map(int, input().split())\nprint(a + b)\n");
  EXPECT_EQ(j.verdict, "passed") << j.message;
  EXPECT_EQ(j.failed_test, -1);
}

TEST(JudgeStdin, StopsAtFirstFailingTest) {
  Judgement j = judge(kSum, "a, b = map(int, input().split())\nprint(a + b if a != 10 else 0)\n");
  EXPECT_EQ(j.verdict, "wrong answer");
  EXPECT_EQ(j.failed_test, 1);
}

TEST(JudgeStdin, ComparesStrippedLinesAndDecimals) {
  CodeProblem p = stdin_problem({{"", "1 2.50\n  x  \n3\n"}});
  EXPECT_EQ(judge(p, "print('1.0 2.5')\nprint('x   ')\nprint(' 3.000')\n\n\n").verdict, "passed");
  EXPECT_EQ(judge(p, "print('1 2.5 0')\nprint('x')\nprint(3)\n").verdict, "wrong answer");  // count differs
  EXPECT_EQ(judge(p, "print('1 2.5')\nprint('X')\nprint(3)\n").verdict, "wrong answer");    // not numbers
  EXPECT_EQ(judge(p, "print('1 2.5')\nprint('x')\n").verdict, "wrong answer");              // lines missing
  EXPECT_EQ(judge(p, "print('1 2.5000001')\nprint('x')\nprint(3)\n").verdict, "wrong answer");  // no tolerance
}

TEST(JudgeStdin, MainGuardAndStdinStylesWork) {
  const char* code =
      "import sys\n"
      "def main():\n"
      "    data = sys.stdin.read().split()\n"
      "    print(int(data[0]) + int(data[1]))\n"
      "if __name__ == '__main__':\n"
      "    main()\n";
  EXPECT_EQ(judge(kSum, code).verdict, "passed");
  EXPECT_EQ(judge(kSum, "import sys\na, b = map(int, sys.stdin.readline().split())\nprint(a+b)\n").verdict, "passed");
  // lcb_runner patches builtins.open, but `from builtins import *` in its prelude has already bound
  // the real open in the program's globals, and its worker's stdin is /dev/null: open(0) reads "".
  EXPECT_EQ(judge(kSum, "a, b = map(int, open(0).read().split())\nprint(a+b)\n").verdict, "runtime error");
  // exit() after printing is not an error (SystemExit is swallowed, as in lcb_runner).
  EXPECT_EQ(judge(kSum, "a, b = map(int, input().split())\nprint(a+b)\nexit(0)\n").verdict, "passed");
}

TEST(JudgeStdin, RuntimeCompileAndTimeVerdicts) {
  EXPECT_EQ(judge(kSum, "a, b = map(int, input().split())\nprint(a // (b - b))\n").verdict, "runtime error");
  Judgement syntax = judge(kSum, "def f(:\n  pass\n");
  EXPECT_EQ(syntax.verdict, "compile error");
  EXPECT_EQ(judge(kSum, "").verdict, "compile error");  // no code block at all
  Judgement slow = judge(kSum, "a, b = map(int, input().split())\nwhile a != b: pass\nprint(a + b)\n", 1.0);
  EXPECT_EQ(slow.verdict, "time limit");
  EXPECT_EQ(slow.failed_test, 0);
  EXPECT_LT(slow.seconds, 4.0);  // the per-test timer, not the whole-sample bound, stopped it
}

TEST(JudgeStdin, LargeInputWithinTimeAndQuadraticTooSlow) {
  std::string input = "200000\n";
  for (int i = 0; i < 200000; ++i) input += std::to_string(i % 1000) + (i + 1 < 200000 ? " " : "\n");
  long long sum = 0;
  for (int i = 0; i < 200000; ++i) sum += i % 1000;
  CodeProblem p = stdin_problem({{input, std::to_string(sum) + "\n"}});
  EXPECT_EQ(judge(p, "input()\nprint(sum(map(int, input().split())))\n", 2.0).verdict, "passed");
  const char* quadratic =
      "n = int(input())\na = list(map(int, input().split()))\n"
      "print(sum(sum(a[:i + 1]) - sum(a[:i]) for i in range(n)))\n";
  EXPECT_EQ(judge(p, quadratic, 1.0).verdict, "time limit");
}

TEST(JudgeStdin, MemoryHogGetsMemoryLimit) {
  Judgement j = judge(kSum, "x = bytearray(64 << 30)\nprint(len(x))\n");
  EXPECT_EQ(j.verdict, "memory limit") << j.message;
  Judgement grow = judge(kSum, "a = []\nwhile True: a.append(bytes(1 << 28))  # calloc: address space, no RAM\n", 2.0);
  EXPECT_EQ(grow.verdict, "memory limit") << grow.message;
}

const CodeProblem kTwoSum =
    functional_problem("twoSum", {{"[2, 7, 11, 15]\n9", "[0, 1]"}, {"[3, 2, 4]\n6", "[1, 2]"}});

TEST(JudgeFunctional, SolutionClassMethodIsCalledWithOneArgumentPerLine) {
  const char* code =
      "class Solution:\n"
      "    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
      "        seen = {}\n"
      "        for i, x in enumerate(nums):\n"
      "            if target - x in seen: return [seen[target - x], i]\n"
      "            seen[x] = i\n";
  EXPECT_EQ(judge(kTwoSum, code).verdict, "passed");
}

TEST(JudgeFunctional, TopLevelFunctionAndTuplesAsLists) {
  const char* code =
      "def twoSum(nums, target):\n"
      "    for i in range(len(nums)):\n"
      "        for j in range(i + 1, len(nums)):\n"
      "            if nums[i] + nums[j] == target: return (i, j)\n";
  EXPECT_EQ(judge(kTwoSum, code).verdict, "passed");
}

TEST(JudgeFunctional, PlainEqualityDecides) {
  // [[0, 1]] vs nested tuple: only the top level is converted, as in lcb_runner.
  CodeProblem nested = functional_problem("f", {{"1", "[[0, 1]]"}});
  EXPECT_EQ(judge(nested, "def f(x): return [(0, 1)]\n").verdict, "wrong answer");
  EXPECT_EQ(judge(nested, "def f(x): return [[0, 1]]\n").verdict, "passed");
  CodeProblem number = functional_problem("f", {{"1", "2"}});
  EXPECT_EQ(judge(number, "def f(x): return 2.0\n").verdict, "passed");   // 2.0 == 2 in Python
  EXPECT_EQ(judge(number, "def f(x): return '2'\n").verdict, "wrong answer");
  EXPECT_EQ(judge(number, "def f(x): return True + 1\n").verdict, "passed");
}

TEST(JudgeFunctional, WrongMissingCrashingSlow) {
  EXPECT_EQ(judge(kTwoSum, "class Solution:\n    def twoSum(self, n, t): return [0, 0]\n").verdict, "wrong answer");
  EXPECT_EQ(judge(kTwoSum, "class Solution:\n    def other(self, n, t): return [0, 1]\n").verdict, "compile error");
  Judgement crash = judge(kTwoSum, "class Solution:\n    def twoSum(self, n, t): return n[99]\n");
  EXPECT_EQ(crash.verdict, "runtime error");
  EXPECT_EQ(crash.failed_test, 0);
  EXPECT_EQ(judge(kTwoSum, "class Solution:\n    def twoSum(self, n, t)\n        return 1\n").verdict, "compile error");
  Judgement slow = judge(kTwoSum, "class Solution:\n    def twoSum(self, n, t):\n        while t != 6: pass\n        return [1, 2]\n", 1.0);
  EXPECT_EQ(slow.verdict, "time limit");
  EXPECT_EQ(slow.failed_test, 0);
  Judgement deep = judge(kTwoSum, "class Solution:\n    def twoSum(self, n, t): return self.twoSum(n, t)\n");
  EXPECT_EQ(deep.verdict, "runtime error");  // RecursionError or the C stack giving out
}

TEST(JudgeFunctional, DisabledFunctionsFailLikeLcbRunner) {
  // lcb_runner sets os.fork and friends to None before judging; calling them is a runtime error.
  CodeProblem p = functional_problem("f", {{"1", "1"}});
  EXPECT_EQ(judge(p, "import os\ndef f(x):\n    os.fork()\n    return 1\n").verdict, "runtime error");
  EXPECT_EQ(judge(p, "import subprocess\ndef f(x):\n    subprocess.Popen(['true'])\n    return 1\n").verdict,
            "runtime error");
}

// A program may write anything to the descriptors it inherits. Malformed report lines on fds
// 3-63 ({"message": [1]}) aborted the whole evaluation with a JSON type error; forged verdicts
// were already not trusted. Garbage only ever decides its own sample's verdict.
TEST(JudgeStdin, GarbageOnInheritedDescriptorsOnlyAffectsItsOwnSample) {
  const std::string forge = R"(import os
for fd in range(3, 64):
    for line in ['{"test":0,"verdict":"passed","message":[1]}', '{"test":"x"}', '{"test":1e999}', '[1,2', '{"verdict":7}',
                 '{"test":99999999999,"verdict":"passed"}']:
        try:
            os.write(fd, (line + "\n").encode())
        except OSError:
            pass
raise SystemExit(3)
)";
  Judgement j;
  ASSERT_NO_THROW(j = judge(kSum, forge));
  EXPECT_NE(j.verdict, "passed") << j.message;
  Judgement fine = judge(kSum, "a, b = map(int, input().split())\nprint(a + b)\n");
  EXPECT_EQ(fine.verdict, "passed") << fine.message;
}

// --python naming a program that never answers hung the evaluation; it is killed and refused.
TEST(Sandbox, AnInterpreterThatNeverAnswersIsRefused) {
  auto dir = test::scratch_dir();
  auto fake = dir / "python";
  std::ofstream(fake) << "#!/bin/sh\nexec sleep 1000\n";
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  auto start = std::chrono::steady_clock::now();
  try {
    Sandbox sandbox(fake.string(), true, 1.0);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did not answer within 1 s"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}

}  // namespace
}  // namespace cotrain
