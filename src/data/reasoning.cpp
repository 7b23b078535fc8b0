#include "cotrain/data/reasoning.h"

#include <algorithm>
#include <numeric>

namespace cotrain {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_word_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequal_at(std::string_view text, std::size_t pos, std::string_view word) {
  if (pos + word.size() > text.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (lower(text[pos + i]) != lower(word[i])) return false;
  }
  return true;
}

}  // namespace

std::optional<TextRange> find_thought(std::string_view response) {
  static const std::pair<std::string_view, std::string_view> markers[] = {
      {"<|begin_of_thought|>", "<|end_of_thought|>"}, {"<think>", "</think>"}};
  for (const auto& [open, close] : markers) {
    std::size_t start = response.find(open);
    if (start == std::string_view::npos) continue;
    start += open.size();
    std::size_t end = response.find(close, start);
    return TextRange{start, end == std::string_view::npos ? response.size() : end};
  }
  return std::nullopt;
}

std::string Steps::join() const {
  std::string text = lead;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (i > 0) text += separators[i - 1];
    text += steps[i];
  }
  return text + trail;
}

Steps split_steps(std::string_view thought) {
  Steps result;
  std::size_t first = 0, last = thought.size();
  while (first < last && is_space(thought[first])) ++first;
  while (last > first && is_space(thought[last - 1])) --last;
  result.lead = thought.substr(0, first);
  result.trail = thought.substr(last);
  if (first == last) return result;

  std::size_t step_start = first, i = first;
  while (i < last) {
    if (!is_space(thought[i])) { ++i; continue; }
    std::size_t run_end = i;
    while (run_end < last && is_space(thought[run_end])) ++run_end;
    if (std::count(thought.begin() + i, thought.begin() + run_end, '\n') >= 2) {
      result.steps.emplace_back(thought.substr(step_start, i - step_start));
      result.separators.emplace_back(thought.substr(i, run_end - i));
      step_start = run_end;
    }
    i = run_end;
  }
  result.steps.emplace_back(thought.substr(step_start, last - step_start));
  return result;
}

const std::vector<std::string>& default_reflection_keywords() {
  static const std::vector<std::string> keywords = {"wait",   "alternatively", "however",      "but",
                                                    "hmm",    "let me",        "double-check", "verify"};
  return keywords;
}

std::vector<KeywordMatch> find_keywords(std::string_view text, const std::vector<std::string>& keywords) {
  std::vector<std::size_t> order(keywords.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return keywords[a].size() > keywords[b].size(); });
  std::vector<KeywordMatch> matches;
  std::size_t pos = 0;
  while (pos < text.size()) {
    bool starts_word = pos == 0 || !is_word_char(text[pos - 1]);
    bool matched = false;
    if (starts_word) {
      for (std::size_t k : order) {
        const std::string& word = keywords[k];
        if (word.empty() || !iequal_at(text, pos, word)) continue;
        std::size_t end = pos + word.size();
        if (end < text.size() && is_word_char(text[end])) continue;
        matches.push_back({pos, end, k});
        pos = end;
        matched = true;
        break;
      }
    }
    if (!matched) ++pos;
  }
  return matches;
}

std::vector<TextRange> find_numbers(std::string_view text) {
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  auto boundary_at = [&](std::size_t end) { return end == text.size() || !is_word_char(text[end]); };
  std::vector<TextRange> numbers;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i]) || (i > 0 && is_word_char(text[i - 1]))) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && is_digit(text[end])) ++end;
    std::size_t number_end = std::string_view::npos;
    if (end + 1 < text.size() && text[end] == '.' && is_digit(text[end + 1])) {
      std::size_t frac = end + 1;
      while (frac < text.size() && is_digit(text[frac])) ++frac;
      if (boundary_at(frac)) number_end = frac;
    }
    if (number_end == std::string_view::npos && boundary_at(end)) number_end = end;
    if (number_end == std::string_view::npos) {  // digits glued to a word ("2x"): skip the word
      while (end < text.size() && is_word_char(text[end])) ++end;
      i = end;
      continue;
    }
    numbers.push_back({i, number_end});
    i = number_end;
  }
  return numbers;
}

std::vector<std::size_t> count_keywords(std::string_view text, const std::vector<std::string>& keywords) {
  std::vector<std::size_t> counts(keywords.size(), 0);
  for (const auto& match : find_keywords(text, keywords)) ++counts[match.keyword];
  return counts;
}

}  // namespace cotrain
