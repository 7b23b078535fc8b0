#include "cotrain/data/perturb.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/eval/math/extract.h"

namespace cotrain {
namespace {

std::string sky_response(const std::vector<std::string>& steps, const std::string& answer) {
  std::string thought;
  for (const auto& s : steps) thought += s + "\n\n";
  return "<|begin_of_thought|>\n\n" + thought + "<|end_of_thought|>\n\n<|begin_of_solution|>\n\nSo it is \\boxed{" +
         answer + "}.\n\n<|end_of_solution|>";
}

std::vector<TraceRecord> make_records(int n, int steps_each) {
  std::vector<TraceRecord> records;
  for (int r = 0; r < n; ++r) {
    std::vector<std::string> steps;
    for (int s = 0; s < steps_each; ++s) steps.push_back("Record " + std::to_string(r) + " step " + std::to_string(s) + ": 12 + 30 = 42.");
    TraceRecord record;
    record.format = TraceFormat::prompt_response;
    record.json = Json{{"prompt", "Q" + std::to_string(r)}, {"response", sky_response(steps, std::to_string(100 + r))}};
    record.conversation = conversation_from_json(record.json, TraceFormat::automatic);
    records.push_back(std::move(record));
  }
  return records;
}

std::string response_of(const TraceRecord& record) { return record.json["response"].get<std::string>(); }

Steps thought_steps(const std::string& response) {
  auto thought = find_thought(response);
  EXPECT_TRUE(thought.has_value());
  return split_steps(std::string_view(response).substr(thought->begin, thought->end - thought->begin));
}

std::string solution_of(const std::string& response) { return response.substr(response.find("<|end_of_thought|>")); }

bool is_subsequence(const std::vector<std::string>& part, const std::vector<std::string>& whole) {
  std::size_t j = 0;
  for (const auto& s : whole) {
    if (j < part.size() && part[j] == s) ++j;
  }
  return j == part.size();
}

TEST(Steps, SplitOnBlankLinesAndJoinBack) {
  for (std::string text : {"\n\na\n\nb\nc\n\n \n  d\n\n", "a", "", "  \n\n ", "a\n \t\nb", "x\n\n\n\ny  z\n"}) {
    EXPECT_EQ(split_steps(text).join(), text);
  }
  Steps steps = split_steps("\n\nfirst\nline two\n\nsecond\n \n third\n\n");
  EXPECT_EQ(steps.steps, (std::vector<std::string>{"first\nline two", "second", "third"}));
  EXPECT_EQ(steps.separators, (std::vector<std::string>{"\n\n", "\n \n "}));
  EXPECT_EQ(steps.lead, "\n\n");
  EXPECT_EQ(steps.trail, "\n\n");
}

TEST(Steps, FindsTheThoughtSectionOfBothStyles) {
  std::string sky = "<|begin_of_thought|>T<|end_of_thought|>S";
  auto t = find_thought(sky);
  ASSERT_TRUE(t);
  EXPECT_EQ(sky.substr(t->begin, t->end - t->begin), "T");
  std::string r1 = "<think>\nA\n\nB</think>answer";
  t = find_thought(r1);
  ASSERT_TRUE(t);
  EXPECT_EQ(r1.substr(t->begin, t->end - t->begin), "\nA\n\nB");
  EXPECT_FALSE(find_thought("no markers"));
}

TEST(Keywords, WholeWordsCaseInsensitive) {
  auto matches = find_keywords("Wait, but BUTTON buts. Let me double-check; hmm, however-ish letme", default_reflection_keywords());
  std::vector<std::string> found;
  std::string text = "Wait, but BUTTON buts. Let me double-check; hmm, however-ish letme";
  for (auto& m : matches) found.push_back(text.substr(m.begin, m.end - m.begin));
  EXPECT_EQ(found, (std::vector<std::string>{"Wait", "but", "Let me", "double-check", "hmm", "however"}));
}

TEST(CorruptDigits, ReplacesOnlyNumbersKeepingTheirShape) {
  std::string text = "x2 has 12 apples, 3.14 and 7.5x but 2x; total 1000.";
  Rng rng(5);
  std::string out = corrupt_digits(text, 1.0, rng);
  ASSERT_EQ(out.size(), text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool digit = text[i] >= '0' && text[i] <= '9';
    if (!digit) EXPECT_EQ(out[i], text[i]) << i;
    else EXPECT_TRUE(out[i] >= '0' && out[i] <= '9');
  }
  // Not numbers under \b\d+(\.\d+)?\b: "x2", "2x"; "7.5x" keeps "7" (the ".5x" part fails the boundary).
  EXPECT_EQ(out.substr(0, 2), "x2");
  EXPECT_EQ(out.substr(text.find("2x;"), 2), "2x");
  EXPECT_EQ(out.substr(text.find("7.5x") + 1, 3), ".5x");
  EXPECT_NE(out.substr(text.find("1000"), 4), "1000");  // p = 1 rewrites; equal only with chance 1e-4
  Rng rng0(5);
  EXPECT_EQ(corrupt_digits(text, 0.0, rng0), text);
  Rng a(9), b(9);
  EXPECT_EQ(corrupt_digits(text, 0.5, a), corrupt_digits(text, 0.5, b));
}

TEST(CorruptDigits, ProbabilityIsPerNumber) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "1234567 ";
  Rng rng(1);
  std::string out = corrupt_digits(text, 0.3, rng);
  int changed = 0;
  for (int i = 0; i < 2000; ++i) changed += out.substr(i * 8, 7) != "1234567";
  // Binomial(2000, 0.3) (a corrupted number equals the original with probability 1e-7): 600 +- 4 sigma (82).
  EXPECT_NEAR(changed, 600, 82);
}

TEST(RemoveKeywords, RemovesWithPunctuationAndKeepsCapitals) {
  Rng rng(1);
  EXPECT_EQ(remove_keywords("Wait, but this fails. Hmm... let me verify it.", default_reflection_keywords(), 1.0, rng),
            "This fails. It.");
  Rng rng2(1);
  EXPECT_EQ(remove_keywords("Wait, x.", default_reflection_keywords(), 0.0, rng2), "Wait, x.");
  Rng rng3(2);
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "wait ";
  std::string out = remove_keywords(many, {"wait"}, 0.5, rng3);
  auto left = static_cast<int>(find_keywords(out, {"wait"}).size());
  EXPECT_NEAR(left, 500, 64);  // Binomial(1000, 0.5): 4 sigma
}

TEST(StepOps, ShuffleKeepsTheMultisetAndTouchesRoundRN) {
  Steps steps;
  for (int i = 0; i < 9; ++i) steps.steps.push_back("s" + std::to_string(i));
  steps.separators.assign(8, "\n\n");
  Steps original = steps;
  Rng rng(3);
  shuffle_steps(steps, 1.0 / 3.0, rng);
  int moved = 0;
  for (int i = 0; i < 9; ++i) moved += steps.steps[i] != original.steps[i];
  EXPECT_LE(moved, 3);
  auto sorted = steps.steps;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, original.steps);
  EXPECT_EQ(steps.separators, original.separators);
}

TEST(StepOps, DeleteRemovesRoundRNStepsKeepingOrder) {
  for (double ratio : {0.0, 0.33, 0.5, 0.67, 1.0}) {
    Steps steps = split_steps("\n\na\n\nb\n\nc\n\nd\n\ne\n\nf\n\n");
    Rng rng(11);
    delete_steps(steps, ratio, rng);
    EXPECT_EQ(steps.steps.size(), 6 - steps_to_touch(ratio, 6)) << ratio;
    EXPECT_TRUE(is_subsequence(steps.steps, {"a", "b", "c", "d", "e", "f"}));
    EXPECT_EQ(steps.separators.size(), steps.steps.empty() ? 0 : steps.steps.size() - 1);
    EXPECT_EQ(split_steps(steps.join()).steps, steps.steps);  // still blank-line separated
  }
  EXPECT_EQ(steps_to_touch(0.5, 3), 2u);  // halves round away from zero
  EXPECT_EQ(steps_to_touch(0.33, 3), 1u);
}

TEST(PerturbRecords, ShuffleIsSeededAndLeavesTheSolution) {
  auto records = make_records(5, 8);
  auto again = make_records(5, 8);
  auto other = make_records(5, 8);
  PerturbOptions options{PerturbMode::shuffle_steps, 1.0, 42};
  PerturbReport report = perturb_records(records, options);
  perturb_records(again, options);
  options.seed = 43;
  perturb_records(other, options);
  EXPECT_EQ(report.responses, 5u);
  bool differs_from_other_seed = false;
  auto fresh = make_records(5, 8);
  for (int r = 0; r < 5; ++r) {
    std::string out = response_of(records[r]), in = response_of(fresh[r]);
    EXPECT_EQ(out, response_of(again[r]));
    differs_from_other_seed |= out != response_of(other[r]);
    EXPECT_EQ(solution_of(out), solution_of(in));
    auto shuffled = thought_steps(out).steps, original = thought_steps(in).steps;
    std::sort(shuffled.begin(), shuffled.end());
    std::sort(original.begin(), original.end());
    EXPECT_EQ(shuffled, original);
    EXPECT_EQ(records[r].conversation.back().content, out);
  }
  EXPECT_TRUE(differs_from_other_seed);
}

TEST(PerturbRecords, InsertTakesStepsFromOtherTraces) {
  auto records = make_records(4, 6);
  PerturbReport report = perturb_records(records, {PerturbMode::insert_steps, 0.5, 7});
  EXPECT_EQ(report.changed, 4u);
  auto fresh = make_records(4, 6);
  for (int r = 0; r < 4; ++r) {
    auto steps = thought_steps(response_of(records[r])).steps;
    auto original = thought_steps(response_of(fresh[r])).steps;
    ASSERT_EQ(steps.size(), 9u);  // 6 + round(0.5 * 6)
    EXPECT_TRUE(is_subsequence(original, steps));
    int foreign = 0;
    for (const auto& s : steps) {
      if (s.rfind("Record " + std::to_string(r) + " ", 0) != 0) ++foreign;
    }
    EXPECT_EQ(foreign, 3);
  }
}

TEST(PerturbRecords, WrongAnswerReplacesTheBoxedAnswerWithAnotherSamples) {
  auto records = make_records(6, 3);
  PerturbReport report = perturb_records(records, {PerturbMode::wrong_answer, 1.0, 1});
  EXPECT_EQ(report.changed, 6u);
  auto fresh = make_records(6, 3);
  for (int r = 0; r < 6; ++r) {
    std::string out = response_of(records[r]), in = response_of(fresh[r]);
    auto box = last_boxed(out);
    ASSERT_TRUE(box);
    int answer = std::stoi(*box);
    EXPECT_NE(answer, 100 + r);
    EXPECT_GE(answer, 100);
    EXPECT_LT(answer, 106);
    EXPECT_EQ(out.substr(0, out.find("<|end_of_thought|>")), in.substr(0, in.find("<|end_of_thought|>")));
  }
}

TEST(PerturbRecords, ContentModesTouchOnlyTheThought) {
  auto records = make_records(3, 4);
  perturb_records(records, {PerturbMode::corrupt_digits, 1.0, 1});
  auto fresh = make_records(3, 4);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(solution_of(response_of(records[r])), solution_of(response_of(fresh[r])));
    EXPECT_NE(response_of(records[r]), response_of(fresh[r]));
  }
  EXPECT_THROW(perturb_records(records, {PerturbMode::delete_steps, 1.5, 1}), InputError);
  EXPECT_EQ(perturb_mode_from_name("insert-steps"), PerturbMode::insert_steps);
  EXPECT_THROW(perturb_mode_from_name("reverse"), InputError);
}

TEST(PerturbRecords, ResponsesWithoutAThoughtAreCountedAndKept) {
  std::vector<TraceRecord> records(1);
  records[0].json = Json{{"prompt", "Q"}, {"response", "Plain answer 12.\n\nMore 13."}};
  records[0].conversation = conversation_from_json(records[0].json, TraceFormat::automatic, &records[0].format);
  PerturbReport report = perturb_records(records, {PerturbMode::corrupt_digits, 1.0, 1});
  EXPECT_EQ(report.without_thought, 1u);
  EXPECT_EQ(report.changed, 0u);
  EXPECT_EQ(response_of(records[0]), "Plain answer 12.\n\nMore 13.");
}

}  // namespace
}  // namespace cotrain
