// Perturbation invariants on traces these tests did not write: the 300 varied records of
// scripts/reference/data_reference.py (three formats, multi-turn, Sky-T1 and <think> sections,
// irregular blank lines, responses without a thought section).
#include <gtest/gtest.h>

#include <algorithm>

#include "cotrain/data/perturb.h"

namespace cotrain {
namespace {

std::vector<TraceRecord> reference_records() {
  auto path = std::filesystem::path(COTRAIN_BINARY_DIR) / "reference" / "data_reference" / "traces.jsonl";
  std::vector<TraceRecord> records;
  for_each_trace(path, TraceFormat::automatic, [&](TraceRecord& r) { records.push_back(std::move(r)); });
  return records;
}

struct Parts {
  std::string before, after;  // text outside the thought section
  Steps steps;
};

std::optional<Parts> parts_of(const std::string& response) {
  auto t = find_thought(response);
  if (!t) return std::nullopt;
  return Parts{response.substr(0, t->begin), response.substr(t->end),
               split_steps(std::string_view(response).substr(t->begin, t->end - t->begin))};
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(PerturbInvariants, StructureModesOnReferenceTraces) {
  const auto original = reference_records();
  ASSERT_EQ(original.size(), 300u);
  for (PerturbMode mode : {PerturbMode::shuffle_steps, PerturbMode::delete_steps, PerturbMode::insert_steps}) {
    for (double ratio : {0.33, 0.67, 1.0}) {
      auto records = original;
      PerturbReport report = perturb_records(records, {mode, ratio, 11});
      std::size_t without = 0, must_change = 0;
      for (std::size_t r = 0; r < records.size(); ++r) {
        // The record round-trips: same fields, and it still parses to the perturbed conversation.
        EXPECT_EQ(conversation_from_json(records[r].json, TraceFormat::automatic).size(), original[r].conversation.size());
        for (std::size_t m = 0; m < records[r].conversation.size(); ++m) {
          const std::string& in = original[r].conversation[m].content;
          const std::string& out = records[r].conversation[m].content;
          if (original[r].conversation[m].role != "assistant") {
            EXPECT_EQ(out, in);
            continue;
          }
          auto a = parts_of(in);
          if (!a) {
            ++without;
            EXPECT_EQ(out, in);
            continue;
          }
          auto b = parts_of(out);
          ASSERT_TRUE(b);
          EXPECT_EQ(b->before, a->before);
          EXPECT_EQ(b->after, a->after);  // the solution is untouched
          std::size_t n = a->steps.steps.size(), k = steps_to_touch(ratio, n);
          must_change += mode == PerturbMode::shuffle_steps ? k >= 2 : k >= 1;
          if (mode == PerturbMode::shuffle_steps) {
            EXPECT_EQ(sorted(b->steps.steps), sorted(a->steps.steps));
            std::size_t moved = 0;
            for (std::size_t i = 0; i < n; ++i) moved += b->steps.steps[i] != a->steps.steps[i];
            EXPECT_LE(moved, k);
          } else if (mode == PerturbMode::delete_steps) {
            EXPECT_EQ(b->steps.steps.size(), n - k);
          } else {
            EXPECT_EQ(b->steps.steps.size(), n + k);
          }
        }
      }
      EXPECT_EQ(report.without_thought, without);
      // Deleting or inserting k >= 1 steps always changes a response; a shuffle of k >= 2 steps
      // may draw the identity, rarely.
      if (mode == PerturbMode::shuffle_steps) {
        EXPECT_LE(report.changed, must_change);
        EXPECT_GE(report.changed, must_change * 2 / 5);
      } else {
        EXPECT_EQ(report.changed, must_change);
      }
    }
  }
}

TEST(PerturbInvariants, ContentModesKeepEverythingOutsideTheirTarget) {
  const auto original = reference_records();
  for (PerturbMode mode : {PerturbMode::corrupt_digits, PerturbMode::remove_keywords, PerturbMode::wrong_answer}) {
    auto records = original;
    perturb_records(records, {mode, 1.0, 5});
    for (std::size_t r = 0; r < records.size(); ++r) {
      for (std::size_t m = 0; m < records[r].conversation.size(); ++m) {
        const std::string& in = original[r].conversation[m].content;
        const std::string& out = records[r].conversation[m].content;
        auto a = parts_of(in);
        if (original[r].conversation[m].role != "assistant" || !a) {
          if (mode != PerturbMode::wrong_answer || original[r].conversation[m].role != "assistant") {
            EXPECT_EQ(out, in);
          }
          continue;
        }
        auto b = parts_of(out);
        ASSERT_TRUE(b);
        EXPECT_EQ(b->before, a->before);
        if (mode == PerturbMode::wrong_answer) {
          EXPECT_EQ(b->steps.join(), a->steps.join());  // the thought is untouched
        } else {
          EXPECT_EQ(b->after, a->after);  // the solution is untouched
          if (mode == PerturbMode::remove_keywords) {
            EXPECT_TRUE(find_keywords(b->steps.join(), default_reflection_keywords()).empty()) << out;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace cotrain
