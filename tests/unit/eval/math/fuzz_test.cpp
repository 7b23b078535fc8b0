// Bounded randomized fuzzing: answers assembled from LaTeX fragments (including hostile ones:
// huge powers, deep nesting, unbalanced braces) must never throw, crash or take long.
#include <gtest/gtest.h>

#include <ctime>
#include <random>

#include "cotrain/eval/math/equivalence.h"

namespace cotrain {
namespace {

std::string random_answer(std::mt19937_64& rng) {
  static const char* pieces[] = {"\\frac{", "}{", "}", "{", "(", ")", "[", "]", "\\{", "\\}", "x", "y", "2", "0", "-", "+",
                                 "^", "^{", "9^{9^{9}}", "\\sqrt{", "\\sqrt[3]{", "\\pi", "e", "i", "\\infty", ",", ";", "=",
                                 "<", "\\le", "\\pm", "\\cup", "\\in", "!", "|", "\\begin{pmatrix}", "\\end{pmatrix}", "&",
                                 "\\\\", "\\boxed{", "\\text{", "and", "%", "$", ".", "1.5", "\\sin", "\\log_", "_", "\\sum_{k=0}^{",
                                 "\\binom{", "10^{400}", "0^{-1}", "\\lfloor", "\\rfloor", ":", " ", "\\left(", "\\right)", "1,000"};
  std::uniform_int_distribution<int> count(1, 40), pick(0, sizeof(pieces) / sizeof(pieces[0]) - 1);
  std::string s;
  for (int k = count(rng); k > 0; --k) s += pieces[pick(rng)];
  return s;
}

// CPU time of this thread: the bound is on the grader's work, not on how busy the machine is.
double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

TEST(Fuzz, RandomAnswersNeverThrowOrHang) {
  std::mt19937_64 rng(12345);
  double start = thread_cpu_ms();
  for (int round = 0; round < 3000; ++round) {
    std::string a = random_answer(rng), b = random_answer(rng);
    double one = thread_cpu_ms();
    ASSERT_NO_THROW({
      Grade g = grade(a, b);
      Grade self = grade(a, a);
      (void)g;
      (void)self;
    }) << a << " | " << b;
    ASSERT_LT(thread_cpu_ms() - one, 250) << "slow pair: " << a << " | " << b;
  }
  EXPECT_LT(thread_cpu_ms() - start, 30000);
}

TEST(Fuzz, HostileInputsNeverThrow) {
  std::string deep(5000, '(');
  std::string braces(20000, '{');
  std::string tower = "2";
  for (int k = 0; k < 50; ++k) tower = "2^{" + tower + "}";
  for (const std::string& s : {deep, braces, tower, std::string(100000, '1'), std::string("\\frac") + std::string(3000, '1'),
                               std::string(3000, '-') + "1", std::string("\\sqrt{") + std::string(500, '|'), std::string("10^{10^{10}}!"),
                               std::string("\\sum_{a=0}^{999}\\sum_{b=0}^{999}\\sum_{c=0}^{999}a"), std::string("\\binom{1000}{500}")}) {
    ASSERT_NO_THROW((void)grade(s, s));
    ASSERT_NO_THROW((void)grade("1", s));
  }
  EXPECT_FALSE(grade("2", tower).equal);
}

}  // namespace
}  // namespace cotrain
