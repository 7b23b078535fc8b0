// The shared labelled pairs (../shared/answer-vectors/equivalence.jsonl, harvested from the test
// suites of Math-Verify, NeMo-Skills, SkyThought, the MATH dataset and lighteval). The labels follow
// each source's conventions, which contradict each other in places, so agreement is measured and
// every disagreement must be listed, with its reason, in equivalence_expectations.jsonl: the test
// fails when the set of disagreements changes in either direction.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <set>

#include "common/shared_data.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/eval/math/equivalence.h"

namespace cotrain {
namespace {

TEST(EquivalenceVectors, AgreementAndListedDisagreements) {
  COTRAIN_SHARED_FILE(path, "answer-vectors/equivalence.jsonl");
  std::set<std::size_t> expected;
  for_each_jsonl(std::filesystem::path(COTRAIN_SOURCE_DIR) / "tests/unit/eval/math/equivalence_expectations.jsonl",
                 [&](nlohmann::json& row, std::size_t) {
                   ASSERT_FALSE(row.at("reason").get<std::string>().empty());
                   expected.insert(row.at("line").get<std::size_t>());
                 });
  std::set<std::size_t> disagreements;
  std::size_t total = 0;
  for_each_jsonl(path, [&](nlohmann::json& row, std::size_t line) {
    ++total;
    // Rows checked with latex-only matching (lighteval/Math-Verify match_types ["latex"]) do not
    // take a bare number from prose; that is the extraction option, not a change to the grader.
    ExtractOptions options;
    const auto& config = row.at("config");
    if (config.contains("match_types") && config["match_types"] == nlohmann::json::array({"latex"})) options.last_number = false;
    Grade g = grade(row.at("gold").get<std::string>(), row.at("pred").get<std::string>(), true, options);
    if (g.equal == row.at("equal").get<bool>()) return;
    disagreements.insert(line);
    if (!expected.count(line))
      ADD_FAILURE() << "new disagreement at line " << line << ": label " << row.at("equal") << ", got " << g.equal
                    << " (" << g.reason << "); gold '" << g.gold_normalized << "' pred '" << g.pred_normalized << "'";
  });
  for (std::size_t line : expected)
    EXPECT_TRUE(disagreements.count(line)) << "line " << line << " now agrees with its label: remove it from the expectations";
  double agreement = 1.0 - static_cast<double>(disagreements.size()) / static_cast<double>(total);
  std::cout << "agreement " << total - disagreements.size() << "/" << total << " = " << agreement << "\n";
  EXPECT_EQ(total, 380u);
  EXPECT_GE(agreement, 0.97);
}

}  // namespace
}  // namespace cotrain
