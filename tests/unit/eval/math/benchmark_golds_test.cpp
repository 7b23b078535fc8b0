// Every gold answer of the five benchmarks must equal itself, a re-typeset form of itself (boxed
// in a sentence, \dfrac, \left( \right), extra spaces) and "x = G", must not equal -(G) or G with
// its first digit changed, and must not equal the gold of another problem of the same benchmark
// unless that pair is listed in gold_collisions.jsonl
// (golds that really are the same value written differently; a row paired with itself marks a
// gold that is prose or code, compared as text, which the per-gold re-typeset checks skip).
#include <gtest/gtest.h>

#include <cctype>
#include <iostream>
#include <optional>
#include <set>

#include "common/shared_data.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/eval/math/benchmarks.h"
#include "cotrain/eval/math/equivalence.h"
#include "cotrain/eval/math/normalize.h"

namespace cotrain {
namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// The same answer as a model might typeset it.
std::string retypeset(const std::string& gold) {
  std::string s = gold;
  if (s.size() > 2 && s.front() == '$' && s.back() == '$') s = s.substr(1, s.size() - 2);
  s = replace_all(s, "\\frac", "\\dfrac");
  std::string spaced;  // a space after each comma, except in thousands separators (58,500 or 10,\!080)
  for (std::size_t k = 0; k < s.size(); ++k) {
    spaced.push_back(s[k]);
    bool thousands = k + 1 < s.size() && (s[k + 1] == '\\' || (k + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[k + 1])) &&
                                                                std::isdigit(static_cast<unsigned char>(s[k + 3]))));
    if (s[k] == ',' && !thousands) spaced.push_back(' ');
  }
  s = spaced;
  s = replace_all(s, "+", " + ");
  if (s.find("\\left") == std::string::npos) {
    s = replace_all(s, "(", "\\left(");
    s = replace_all(s, ")", "\\right)");
  }
  return "Putting it together, the final answer is $\\boxed{" + s + "}$.";
}

std::string bare(const std::string& gold) {
  return gold.size() > 2 && gold.front() == '$' && gold.back() == '$' ? gold.substr(1, gold.size() - 2) : gold;
}

// One value (no list, relation, text or units), so "x = G" and "-(G)" make sense.
bool single_value(const std::string& gold) {
  std::string g = bare(gold);
  for (const char* t : {",", ";", "$", "\n", "=", "<", ">", "\\le", "\\ge", "\\ne", "\\in", "\\cup", "\\text", "\\mbox", "\\circ", "\\pm"})
    if (g.find(t) != std::string::npos) return false;
  return !g.empty();
}

// A different answer: the first digit increased by one ("27" -> "37", "\frac{1}{2}" -> "\frac{2}{2}").
std::optional<std::string> bump_first_digit(std::string g) {
  for (auto& c : g)
    if (std::isdigit(static_cast<unsigned char>(c))) {
      c = static_cast<char>('0' + (c - '0' + 1) % 10);
      return g;
    }
  return std::nullopt;
}

class BenchmarkGolds : public ::testing::TestWithParam<std::string> {};

TEST_P(BenchmarkGolds, EqualThemselvesAndNotOthers) {
  const std::string name = GetParam();
  COTRAIN_SHARED_FILE(path, "benchmarks/" + name + "/test.jsonl");
  Benchmark b = load_benchmark(name, path);
  std::set<std::pair<std::size_t, std::size_t>> allowed;
  for_each_jsonl(std::filesystem::path(COTRAIN_SOURCE_DIR) / "tests/unit/eval/math/gold_collisions.jsonl",
                 [&](nlohmann::json& row, std::size_t) {
                   if (row.at("bench") == name) allowed.insert({row.at("a").get<std::size_t>(), row.at("b").get<std::size_t>()});
                 });
  std::vector<std::string> normalized;
  std::vector<std::optional<Node>> parsed;
  for (std::size_t i = 0; i < b.problems.size(); ++i) {
    const std::string& gold = b.problems[i].gold;
    Verdict self = equivalent_answers(normalize_answer(gold), normalize_answer(gold));
    EXPECT_TRUE(self.equal) << name << " row " << i << ": '" << gold << "' " << self.reason;
    Grade typeset = grade(gold, retypeset(gold), false);
    if (!allowed.count({i, i})) {
      EXPECT_TRUE(typeset.equal) << name << " row " << i << ": '" << gold << "' vs '" << retypeset(gold) << "' (" << typeset.reason
                                 << ", pred '" << typeset.pred_normalized << "')";
    }
    if (single_value(gold) && !allowed.count({i, i})) {
      EXPECT_TRUE(grade(gold, "so we get $x = " + bare(gold) + "$", false).equal) << name << " row " << i << ": x = " << gold;
      if (normalize_answer(gold) != "0") {
        EXPECT_FALSE(grade(gold, "\\boxed{-\\left(" + bare(gold) + "\\right)}", false).equal) << name << " row " << i << ": -" << gold;
      }
    }
    if (auto bumped = bump_first_digit(bare(gold)); bumped && gold.find("\\text") == std::string::npos && gold.find("\\mbox") == std::string::npos) {
      EXPECT_FALSE(grade(gold, "\\boxed{" + *bumped + "}", false).equal) << name << " row " << i << ": " << gold << " vs " << *bumped;
    }
    normalized.push_back(normalize_answer(gold));
    parsed.push_back(prepare_answer(normalized.back()));
  }
  std::set<std::pair<std::size_t, std::size_t>> found;
  for (std::size_t i = 0; i < normalized.size(); ++i)
    for (std::size_t j = i + 1; j < normalized.size(); ++j) {
      if (normalized[i] == normalized[j]) continue;  // the same answer twice
      bool equal = parsed[i] && parsed[j] ? equivalent(*parsed[i], *parsed[j]).equal
                                          : equivalent_answers(normalized[i], normalized[j]).equal;
      if (!equal) continue;
      found.insert({i, j});
      if (!allowed.count({i, j}))
        ADD_FAILURE() << "unlisted collision " << name << " " << i << " '" << b.problems[i].gold << "' = " << j << " '"
                      << b.problems[j].gold << "'";
    }
  for (const auto& pair : allowed) {
    if (pair.first != pair.second) {  // a row paired with itself exempts that gold from the per-gold checks
      EXPECT_TRUE(found.count(pair)) << "listed collision " << pair.first << "," << pair.second << " no longer happens";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, BenchmarkGolds, ::testing::Values("math500", "aime24", "amc23", "olympiadbench", "minerva_math"));

}  // namespace
}  // namespace cotrain
