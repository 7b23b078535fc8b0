#include "cotrain/eval/math/equivalence.h"
#include "cotrain/eval/math/extract.h"

#include <gtest/gtest.h>

#include <chrono>

namespace cotrain {
namespace {

TEST(Extract, LastBoxedWithBalancedBraces) {
  EXPECT_EQ(last_boxed("\\boxed{1} then \\boxed{\\frac{a}{b}}").value(), "\\frac{a}{b}");
  EXPECT_EQ(last_boxed("so \\boxed 5$.").value(), "5");
  EXPECT_EQ(last_boxed("\\fbox{7}").value(), "7");
  EXPECT_FALSE(last_boxed("\\boxedx{3} none").has_value());
  EXPECT_EQ(last_boxed("\\boxed{unbalanced {").value(), "unbalanced {");
  auto e = extract_answer("We get \\boxed{12}.");
  EXPECT_EQ(e.answer, "12");
  EXPECT_EQ(e.method, "boxed");
}

TEST(Extract, BoxesJoinedByShortConnectorsFormOneList) {
  EXPECT_EQ(boxed_answer("\\boxed{1} and \\boxed{2}").value(), "1, 2");
  EXPECT_EQ(boxed_answer("\\boxed{1} no no no no no \\boxed{2}").value(), "2");
  EXPECT_EQ(boxed_answer("$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$").value(), "(2, 2), (6, 2)");
}

TEST(Extract, FallbacksInDocumentedOrder) {
  EXPECT_EQ(extract_answer("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.").method, "minerva");
  EXPECT_EQ(extract_answer("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.").answer, "\\frac{3}{4}");
  auto is = extract_answer("Lots of work, 12 steps.\nSo the answer is 42.");
  EXPECT_EQ(is.answer, "42.");
  EXPECT_EQ(is.method, "answer_is");
  EXPECT_EQ(extract_answer("I guess the answer is 5, no.\nFinal answer: 7").answer, "7");  // the last one
  EXPECT_EQ(extract_answer("x^2 + 1").method, "whole");
  auto span = extract_answer("We computed many things and finally found that it equals $\\sqrt{2}$");
  EXPECT_EQ(span.answer, "\\sqrt{2}");
  EXPECT_EQ(span.method, "math_span");
  auto number = extract_answer("No explicit final. But here's some text 2 and 10");
  EXPECT_EQ(number.answer, "10");
  EXPECT_EQ(number.method, "last_number");
  EXPECT_EQ(extract_answer("No numeric content at all").method, "none");
  EXPECT_EQ(extract_answer("the total was 1,000.5 dollars in the end for everyone").answer, "1,000.5");
}

TEST(Extract, StrictModeOnlyTakesBoxes) {
  EXPECT_EQ(extract_answer("the answer is 5", {.strict = true}).answer, "");
  EXPECT_EQ(extract_answer("\\boxed{5}", {.strict = true}).answer, "5");
}

TEST(Extract, SkyT1SectionsAndThinking) {
  std::string sky = "<|begin_of_thought|>maybe \\boxed{3}<|end_of_thought|><|begin_of_solution|>So \\boxed{4}<|end_of_solution|>";
  EXPECT_EQ(extract_answer(sky).answer, "4");
  EXPECT_EQ(extract_answer("<think>try \\boxed{1}</think> The answer is \\boxed{2}").answer, "2");
  EXPECT_EQ(std::string(answer_section("<think>a</think>b")), "b");
  // a model that keeps talking past its turn: the next turn is not its answer
  EXPECT_EQ(extract_answer("so it is 12. <|im_start|>user what is 7").answer, "12");
}

TEST(Extract, InlineMathDoesNotCrossLines) {
  EXPECT_EQ(extract_answer("Answer $ \n 9 \n $", {.last_number = false}).answer, "");
  EXPECT_EQ(extract_answer("Answer $$ \n 9 \n $$").answer, "9");
}

// Looking for \fbox from every box made 900 KB of "\boxed{1}" take 50 s (grade, eval, stats and
// perturb all find boxes). 100k boxes must take milliseconds.
TEST(Extract, ManyBoxesAreFoundInLinearTime) {
  std::string text;
  for (int i = 0; i < 100'000; ++i) text += "\\boxed{1}";
  auto start = std::chrono::steady_clock::now();
  auto boxes = find_boxes(text);
  Grade g = grade("1", text);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(boxes.size(), 100'000u);
  EXPECT_EQ(boxes.back().content, "1");
  EXPECT_EQ(g.extraction, "boxed");
  EXPECT_LT(seconds, 5.0) << "took " << seconds << " s";
}

}  // namespace
}  // namespace cotrain
