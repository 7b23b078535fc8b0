#include "cotrain/data/stats.h"

#include <gtest/gtest.h>

#include "cotrain/data/reasoning.h"

namespace cotrain {
namespace {

TEST(Stats, LengthSummaryMatchesNumpyLinearPercentiles) {
  // numpy.percentile([1, 2, 3, 4, 10], [50, 90, 99]) = [3.0, 7.6, 9.76]
  LengthSummary s = summarize_lengths({10, 2, 4, 1, 3});
  EXPECT_EQ(s.count, 5u);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 10);
  EXPECT_DOUBLE_EQ(s.mean, 4.0);
  EXPECT_DOUBLE_EQ(s.median, 3.0);
  EXPECT_NEAR(s.p90, 7.6, 1e-12);
  EXPECT_NEAR(s.p99, 9.76, 1e-12);
  EXPECT_DOUBLE_EQ(summarize_lengths({4, 1}).median, 2.5);
}

TEST(Stats, ResponseStatisticsCountKeywordsStepsAndBoxes) {
  ResponseStats r(default_reflection_keywords());
  r.add("<|begin_of_thought|>\n\nWait, 1.\n\nBut wait: 2. However...\n\nLet me verify.\n\n<|end_of_thought|>\n\n\\boxed{3}");
  r.add("<think>hmm</think>no box, but");
  r.add("plain WAIT");
  EXPECT_EQ(r.responses(), 3u);
  // wait: 3 (Wait, wait, WAIT), but: 2, however: 1, hmm: 1, let me: 1, verify: 1 -> 9 over 3 responses.
  EXPECT_DOUBLE_EQ(r.keyword_mean(0), 1.0);
  EXPECT_DOUBLE_EQ(r.keyword_mean(3), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.keywords_total_mean(), 3.0);
  EXPECT_EQ(r.with_thought(), 2u);
  EXPECT_DOUBLE_EQ(r.steps_mean(), 2.0);  // (3 + 1) / 2
  EXPECT_DOUBLE_EQ(r.boxed_share(), 1.0 / 3.0);
}

TEST(Stats, JsonHasOneKeyPerKeyword) {
  DataStats stats{2, std::vector<std::int64_t>{5, 20}, 10, ResponseStats({"wait", "let me"})};
  stats.responses.add("Wait, let me see. wait");
  stats.responses.add("ok");
  auto j = stats_json(stats);
  EXPECT_EQ(j["samples"], 2);
  EXPECT_EQ(j["over_cutoff"], 1);
  EXPECT_EQ(j["tokens"]["max"], 20);
  EXPECT_DOUBLE_EQ(j["keywords"]["wait"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["keywords"]["let me"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["keywords_total"].get<double>(), 1.5);
  stats.pack_capacity = 16;  // 5 fits one bin, 20 is too long
  EXPECT_EQ(stats_json(stats)["packing"]["bins"], 1);
  EXPECT_EQ(stats_json(stats)["packing"]["too_long"], 1);
  EXPECT_DOUBLE_EQ(stats_json(stats)["packing"]["efficiency"].get<double>(), 5.0 / 16.0);
  DataStats raw{1, std::nullopt, 16384, ResponseStats({})};
  EXPECT_TRUE(stats_json(raw)["tokens"].is_null());
}

}  // namespace
}  // namespace cotrain
