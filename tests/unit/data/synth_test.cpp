#include "cotrain/data/synth.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "cotrain/data/reasoning.h"
#include "cotrain/eval/math/extract.h"

namespace cotrain {
namespace {

TEST(Synth, EveryTraceIsInSkyT1FormatWithItsGoldAnswerBoxed) {
  SynthSet set = synth_set(200, 50, 1);
  ASSERT_EQ(set.train.size(), 200u);
  ASSERT_EQ(set.bench.size(), 50u);
  for (const auto& p : set.train) {
    auto thought = find_thought(p.response);
    ASSERT_TRUE(thought);
    Steps steps = split_steps(std::string_view(p.response).substr(thought->begin, thought->end - thought->begin));
    EXPECT_GE(steps.steps.size(), 5u);
    EXPECT_NE(p.response.find("Wait, let me check"), std::string::npos);
    EXPECT_EQ(last_boxed(p.response), p.answer);
    EXPECT_GT(p.response.find("<|begin_of_solution|>"), thought->end);
    // Trace and record agree.
    Json record = synth_trace_record(p);
    Conversation c = conversation_from_json(record, TraceFormat::sharegpt);
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c[1].content, "Return your final response within \\boxed{}. " + p.problem);
    EXPECT_EQ(c[2].content, p.response);
  }
}

TEST(Synth, AnswersAreCorrect) {
  // Recompute each kind's answer from the numbers in the problem text.
  std::regex expression(R"(Compute \$\((\d+) \+ (\d+)\) \\times (\d+) - (\d+)\$\.)");
  std::regex library(R"(A library has (\d+) books. It lends out (\d+) books each day for (\d+) days and then receives (\d+) new)");
  std::regex series(R"(first (\d+) terms of the arithmetic sequence that starts at (\d+) and increases by (\d+))");
  std::regex remainder(R"(remainder when \$(\d+) \\times (\d+)\$ is divided by (\d+)\?)");
  int checked = 0;
  std::set<int> kinds;
  for (const auto& p : synth_set(300, 0, 9).train) {
    std::smatch m;
    long long want;
    auto n = [&](int i) { return std::stoll(m[i].str()); };
    if (std::regex_search(p.problem, m, expression)) want = (n(1) + n(2)) * n(3) - n(4), kinds.insert(0);
    else if (std::regex_search(p.problem, m, library)) want = n(1) - n(2) * n(3) + n(4), kinds.insert(1);
    else if (std::regex_search(p.problem, m, series)) {
      kinds.insert(2);
      want = 0;
      for (long long k = 0; k < n(1); ++k) want += n(2) + k * n(3);
    } else if (std::regex_search(p.problem, m, remainder)) want = n(1) * n(2) % n(3), kinds.insert(3);
    else FAIL() << "unknown problem kind: " << p.problem;
    EXPECT_EQ(p.answer, std::to_string(want)) << p.problem;
    ++checked;
  }
  EXPECT_EQ(checked, 300);
  EXPECT_EQ(kinds.size(), 4u);
}

TEST(Synth, SeededAndBenchDisjointFromTraining) {
  SynthSet a = synth_set(100, 40, 5), b = synth_set(100, 40, 5), c = synth_set(100, 40, 6);
  std::set<std::string> train;
  for (std::size_t i = 0; i < a.train.size(); ++i) {
    EXPECT_EQ(a.train[i].response, b.train[i].response);
    train.insert(a.train[i].problem);
  }
  EXPECT_EQ(train.size(), 100u);  // no duplicates
  EXPECT_NE(a.train[0].problem + a.train[1].problem, c.train[0].problem + c.train[1].problem);
  for (const auto& p : a.bench) EXPECT_EQ(train.count(p.problem), 0u);
  Json bench = synth_bench_record(a.bench[0], 0);
  EXPECT_EQ(bench["answer"], a.bench[0].answer);
  EXPECT_EQ(bench["problem"], a.bench[0].problem);
  EXPECT_NE(bench["solution"].get<std::string>().find("\\boxed{" + a.bench[0].answer + "}"), std::string::npos);
}

}  // namespace
}  // namespace cotrain
