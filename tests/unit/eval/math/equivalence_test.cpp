// The comparison rules one by one, on normalised answers.
#include "cotrain/eval/math/equivalence.h"

#include <gtest/gtest.h>

#include <chrono>

#include "cotrain/eval/math/normalize.h"

namespace cotrain {
namespace {

bool same(std::string_view gold, std::string_view pred) { return grade(gold, pred).equal; }

TEST(Equivalence, ExactRationalsWithBigIntegers) {
  EXPECT_TRUE(same("\\frac{1}{2}", "\\frac{2}{4}"));
  EXPECT_TRUE(same("2^{100}", "1267650600228229401496703205376"));
  EXPECT_FALSE(same("2^{100}", "1267650600228229401496703205377"));  // doubles could not tell
  EXPECT_TRUE(same("918\\frac{1}{2}", "918.5"));
  EXPECT_FALSE(same("5866608", "5866609"));
}

TEST(Equivalence, DecimalsWithRelativeToleranceAndRounding) {
  EXPECT_TRUE(same("3.1416", "3.14159"));
  EXPECT_FALSE(same("3.15", "3.14159"));
  EXPECT_FALSE(same("5", "5.001"));
  EXPECT_TRUE(same("\\frac{1}{3}", "0.33"));
  EXPECT_FALSE(same("\\frac{1}{3}", "0.34"));
  EXPECT_FALSE(same("\\frac{1}{3}", "0.3"));  // one place is too coarse to count as rounding
  EXPECT_TRUE(same("4.123105625617661", "\\sqrt{17}"));
}

TEST(Equivalence, ConstantsRootsPowersTrigLog) {
  EXPECT_TRUE(same("\\frac{9}{4}\\pi", "\\frac94\\pi"));
  EXPECT_TRUE(same("3\\sqrt{13}", "\\sqrt{117}"));
  EXPECT_TRUE(same("\\sqrt[3]{-8}", "-2"));
  EXPECT_TRUE(same("e^{\\ln 5}", "5"));
  EXPECT_TRUE(same("\\log_2 8", "3"));
  EXPECT_TRUE(same("\\sin^2 x + \\cos^2 x", "1"));
  EXPECT_TRUE(same("i^2", "-1"));
  EXPECT_FALSE(same("1-\\frac{1}{e}", "1+\\frac{1}{e}"));
  EXPECT_TRUE(same("\\binom{5}{2}", "10"));
  EXPECT_TRUE(same("\\binom{10}{3 \\cdot 10^{400}}", "0"));  // k > n, k past any double (a fuzzer's find)
  EXPECT_FALSE(same("\\binom{10}{3 \\cdot 10^{400}}", "1"));
  EXPECT_TRUE(same("4!", "24"));
}

TEST(Equivalence, VariablesAtSeededRandomPoints) {
  EXPECT_TRUE(same("(x+1)^2", "x^2+2x+1"));
  EXPECT_FALSE(same("x^2+2x-1", "(x+1)^2"));
  EXPECT_TRUE(same("\\tan^2(y)+1", "\\sec^2(y)"));
  EXPECT_TRUE(same("\\frac{\\pi r}{h+r}", "\\frac{r\\pi}{r+h}"));
  EXPECT_FALSE(same("f(x)", "f(y)"));
}

TEST(Equivalence, TuplesOrderedSetsAndListsNot) {
  EXPECT_TRUE(same("(1,\\frac{9}{2})", "(1,4.5)"));
  EXPECT_FALSE(same("(3,1)", "(1,3)"));
  EXPECT_TRUE(same("\\{1,2,3\\}", "\\{3,1,2\\}"));
  EXPECT_TRUE(same("-2,1", "1,-2"));
  EXPECT_FALSE(same("1,2", "1,2,3"));
  EXPECT_TRUE(same("6 \\text{ and } 8", "6, 8"));
}

TEST(Equivalence, IntervalsByEndpointsAndBrackets) {
  EXPECT_TRUE(same("[0,1)", "[0,1)"));
  EXPECT_FALSE(same("(0,9)", "[0,9)"));
  EXPECT_TRUE(same("(-\\infty, 2] \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2]"));
  EXPECT_TRUE(same("-2 \\le x \\le 7", "x \\in [-2,7]"));
  EXPECT_TRUE(same("x > 5", "(5, \\infty)"));
}

TEST(Equivalence, MatricesCellwise) {
  EXPECT_TRUE(same("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}"));
  EXPECT_FALSE(same("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}"));
  EXPECT_FALSE(same("\\begin{pmatrix}1 & 2\\end{pmatrix}", "\\begin{pmatrix}1 \\\\ 2\\end{pmatrix}"));
}

TEST(Equivalence, EquationsAndNamedValues) {
  EXPECT_TRUE(same("x = 3", "3"));
  EXPECT_TRUE(same("3", "k=3"));
  EXPECT_FALSE(same("2x + z = 1", "1"));
  EXPECT_TRUE(same("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}"));
  EXPECT_FALSE(same("x + y = 1", "x - y = 1"));
  EXPECT_TRUE(same("x \\geq 5", "5 \\leq x"));
  EXPECT_FALSE(same("x > 5", "x < 5"));
  EXPECT_TRUE(same("a_3 = 2, a_{37} = 19", "a_{37} = 19, a_3 = 2"));
  EXPECT_TRUE(same("p=5,q=2;p=7,q=2", "(5,2),(7,2)"));
}

TEST(Equivalence, PlusMinusIsTwoAnswers) {
  EXPECT_TRUE(same("\\pm 2021", "\\{-2021, 2021\\}"));
  EXPECT_FALSE(same("\\pm 2021", "2021"));
  EXPECT_TRUE(same("1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}"));
}

TEST(Equivalence, PercentOnlyWithAPercentSign) {
  EXPECT_TRUE(same("75\\%", "0.75"));
  EXPECT_TRUE(same("10\\%", "10"));
  EXPECT_FALSE(same("1", "100"));
}

TEST(Equivalence, TextAndChoices) {
  EXPECT_TRUE(same("\\text{(C)}", "C"));
  EXPECT_TRUE(same("C", "c"));
  EXPECT_FALSE(same("B", "A"));
  EXPECT_TRUE(same("\\text{Evelyn}", "Evelyn"));
  EXPECT_FALSE(same("odd", "\\text{oddd}"));
}

TEST(Equivalence, ReasonsSayWhichCheckDecided) {
  EXPECT_EQ(grade("\\frac{1}{2}", "0.5").reason, "exact value");
  EXPECT_EQ(grade("x^2", "x\\cdot x").reason, "equal at random points");
  EXPECT_EQ(grade("7", "").reason, "no answer");
  Grade g = grade("\\dfrac{1}{2}", "so \\boxed{\\frac12}");
  EXPECT_EQ(g.pred_answer, "\\frac12");
  EXPECT_EQ(g.pred_normalized, "\\frac{1}{2}");
  EXPECT_EQ(g.extraction, "boxed");
}

// Values past the exact range overflowed doubles to inf, and two infinities compared equal:
// 2^{5000} = 3^{5000}, 1000! = 999!. Such values are equal only when written the same way.
TEST(Equivalence, ValuesBeyondTheExactRangeAreNeverEqualByOverflow) {
  for (auto [a, b] : {std::pair{"2^{5000}", "3^{5000}"}, {"1000!", "999!"}, {"10^{10^{5}}", "10^{10^{5}}+1"},
                      {"2^{5000}", "\\infty"}, {"(x/10)^{5000}", "(x/10)^{5001}"}}) {
    Grade g = grade(a, b);
    EXPECT_FALSE(g.equal) << a << " vs " << b << ": " << g.reason;
  }
  EXPECT_EQ(grade("2^{5000}", "3^{5000}").reason, "cannot decide (beyond exact and floating-point range)");
  EXPECT_TRUE(same("1000!", "1000!"));
  EXPECT_TRUE(same("2^{5000}", "2^{5000}"));
  EXPECT_TRUE(same("\\infty", "\\infty"));
  EXPECT_TRUE(same("-\\infty", "-\\infty"));
  EXPECT_FALSE(same("\\infty", "-\\infty"));
  EXPECT_TRUE(same("2^{1000}", "2^{999} \\cdot 2"));  // within the exact range: exact
}

// Found by fuzz_grade: a fraction near the 4096-bit cap took 0.1 s (gcd by Euclid over a
// bit-by-bit division, and a gcd after every multiplication of a power). 50 of them take
// milliseconds now.
TEST(Equivalence, ExactArithmeticNearTheSizeCapIsFast) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(grade("0.10\\%10^{400}%", "2").equal);
  EXPECT_TRUE(same("(\\frac{101}{1000})^{400}", "\\frac{101^{400}}{1000^{400}}"));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0) << "took " << seconds << " s";
}

}  // namespace
}  // namespace cotrain
