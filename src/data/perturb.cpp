#include "cotrain/data/perturb.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "cotrain/core/error.h"
#include "cotrain/core/signals.h"
#include "cotrain/eval/math/extract.h"

namespace cotrain {
namespace {

// K distinct positions out of N, in increasing order.
std::vector<std::size_t> choose_positions(std::size_t n, std::size_t k, Rng& rng) {
  std::vector<std::size_t> all(n);
  for (std::size_t i = 0; i < n; ++i) all[i] = i;
  for (std::size_t i = 0; i < k; ++i) std::swap(all[i], all[i + rng.below(n - i)]);
  all.resize(k);
  std::sort(all.begin(), all.end());
  return all;
}

struct Turn {
  std::size_t record, message;
};

std::string& turn_text(std::vector<TraceRecord>& records, const Turn& turn) {
  return records[turn.record].conversation[turn.message].content;
}

// The final answer sits in the solution: after the thought section when there is one.
std::optional<TextRange> final_answer(std::string_view response) {
  std::size_t from = 0;
  if (auto thought = find_thought(response)) from = thought->end;
  auto boxes = find_boxes(response.substr(from));
  if (boxes.empty() || !boxes.back().closed) return std::nullopt;  // a cut-off trace has no answer to swap
  return TextRange{boxes.back().content_begin + from, boxes.back().content_end + from};
}

}  // namespace

const std::vector<std::string>& perturb_mode_names() {
  static const std::vector<std::string> names = {"wrong-answer", "corrupt-digits", "remove-keywords",
                                                 "shuffle-steps", "delete-steps",  "insert-steps"};
  return names;
}

PerturbMode perturb_mode_from_name(std::string_view name) {
  const auto& names = perturb_mode_names();
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    fail_input("--mode {}: unknown perturbation mode ({})", name, fmt::join(names, ", "));
  }
  return static_cast<PerturbMode>(it - names.begin());
}

// Each number (find_numbers) is, with PROBABILITY, rewritten digit by digit with uniform random digits.
std::string corrupt_digits(std::string_view text, double probability, Rng& rng) {
  std::string out(text);
  for (const TextRange& number : find_numbers(text)) {
    if (!rng.chance(probability)) continue;
    for (std::size_t k = number.begin; k < number.end; ++k) {
      if (out[k] != '.') out[k] = static_cast<char>('0' + rng.below(10));
    }
  }
  return out;
}

// Each keyword occurrence is removed with PROBABILITY, together with the punctuation right after
// it (",.;:!?") and the spaces that follow; a capitalised keyword passes its capital to the next
// word ("Wait, but this fails." -> "This fails." when both go).
std::string remove_keywords(std::string_view text, const std::vector<std::string>& keywords, double probability,
                            Rng& rng) {
  std::vector<KeywordMatch> removed;
  for (const KeywordMatch& match : find_keywords(text, keywords)) {
    if (rng.chance(probability)) removed.push_back(match);
  }
  std::string out(text);
  for (auto it = removed.rbegin(); it != removed.rend(); ++it) {
    std::size_t end = it->end;
    while (end < out.size() && std::string_view(",.;:!?").find(out[end]) != std::string_view::npos) ++end;
    while (end < out.size() && (out[end] == ' ' || out[end] == '\t')) ++end;
    bool capital = out[it->begin] >= 'A' && out[it->begin] <= 'Z';
    out.erase(it->begin, end - it->begin);
    if (capital && it->begin < out.size() && out[it->begin] >= 'a' && out[it->begin] <= 'z') {
      out[it->begin] = static_cast<char>(out[it->begin] - 'a' + 'A');
    }
  }
  return out;
}

std::size_t steps_to_touch(double ratio, std::size_t steps) {
  return static_cast<std::size_t>(std::llround(ratio * static_cast<double>(steps)));
}

void shuffle_steps(Steps& steps, double ratio, Rng& rng) {
  std::vector<std::size_t> chosen = choose_positions(steps.steps.size(), steps_to_touch(ratio, steps.steps.size()), rng);
  std::vector<std::string> moved;
  for (std::size_t at : chosen) moved.push_back(std::move(steps.steps[at]));
  rng.shuffle(moved);
  for (std::size_t i = 0; i < chosen.size(); ++i) steps.steps[chosen[i]] = std::move(moved[i]);
}

void delete_steps(Steps& steps, double ratio, Rng& rng) {
  std::vector<std::size_t> chosen = choose_positions(steps.steps.size(), steps_to_touch(ratio, steps.steps.size()), rng);
  for (auto it = chosen.rbegin(); it != chosen.rend(); ++it) {
    steps.steps.erase(steps.steps.begin() + static_cast<std::ptrdiff_t>(*it));
    if (!steps.separators.empty()) {
      std::size_t sep = std::min(*it, steps.separators.size() - 1);  // the one after it, or before the last
      steps.separators.erase(steps.separators.begin() + static_cast<std::ptrdiff_t>(sep));
    }
  }
}

void insert_steps(Steps& steps, double ratio, Rng& rng, const std::function<std::string(Rng&)>& donor) {
  std::size_t count = steps_to_touch(ratio, steps.steps.size());
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t at = rng.below(steps.steps.size() + 1);
    steps.steps.insert(steps.steps.begin() + static_cast<std::ptrdiff_t>(at), donor(rng));
    if (steps.steps.size() > 1) {
      std::size_t sep = std::min(at, steps.separators.size());
      steps.separators.insert(steps.separators.begin() + static_cast<std::ptrdiff_t>(sep), "\n\n");
    }
  }
}

PerturbReport perturb_records(std::vector<TraceRecord>& records, const PerturbOptions& options) {
  if (!(options.ratio >= 0.0 && options.ratio <= 1.0)) fail_input("--ratio: must be in [0, 1] (got {})", options.ratio);
  PerturbReport report;
  report.records = records.size();
  std::vector<Turn> turns;
  for (std::size_t r = 0; r < records.size(); ++r) {
    for (std::size_t m = 0; m < records[r].conversation.size(); ++m) {
      if (records[r].conversation[m].role == "assistant") turns.push_back({r, m});
    }
  }
  report.responses = turns.size();

  // What other turns donate, taken before anything changes.
  std::vector<std::string> answers;  // distinct final answers, in file order
  std::vector<std::vector<std::string>> turn_steps(turns.size());
  std::vector<std::size_t> turns_with_steps;
  std::vector<std::size_t> records_steps_count(records.size(), 0);
  for (std::size_t t = 0; t < turns.size(); ++t) {
    const std::string& text = turn_text(records, turns[t]);
    if (options.mode == PerturbMode::wrong_answer) {
      if (auto answer = final_answer(text)) {
        std::string value = text.substr(answer->begin, answer->end - answer->begin);
        if (std::find(answers.begin(), answers.end(), value) == answers.end()) answers.push_back(value);
      }
    } else if (options.mode == PerturbMode::insert_steps) {
      if (auto thought = find_thought(text)) {
        turn_steps[t] = split_steps(std::string_view(text).substr(thought->begin, thought->end - thought->begin)).steps;
        if (!turn_steps[t].empty()) {
          turns_with_steps.push_back(t);
          ++records_steps_count[turns[t].record];
        }
      }
    }
  }

  for (std::size_t t = 0; t < turns.size(); ++t) {
    if ((t & 63) == 0) throw_if_stopped();
    Rng rng(options.seed, t);
    std::string& text = turn_text(records, turns[t]);
    std::string before = text;
    if (options.mode == PerturbMode::wrong_answer) {
      auto answer = final_answer(text);
      if (!answer) {
        ++report.without_answer;
        continue;
      }
      std::string own = text.substr(answer->begin, answer->end - answer->begin);
      auto own_index = static_cast<std::size_t>(std::find(answers.begin(), answers.end(), own) - answers.begin());
      if (answers.size() < 2 || !rng.chance(options.ratio)) continue;
      std::size_t pick = rng.below(answers.size() - 1);
      if (pick >= own_index) ++pick;
      text.replace(answer->begin, answer->end - answer->begin, answers[pick]);
    } else {
      auto thought = find_thought(text);
      if (!thought) {
        ++report.without_thought;
        continue;
      }
      std::string_view section = std::string_view(before).substr(thought->begin, thought->end - thought->begin);
      std::string replaced;
      if (options.mode == PerturbMode::corrupt_digits) {
        replaced = corrupt_digits(section, options.ratio, rng);
      } else if (options.mode == PerturbMode::remove_keywords) {
        replaced = remove_keywords(section, options.keywords, options.ratio, rng);
      } else {
        Steps steps = split_steps(section);
        if (options.mode == PerturbMode::shuffle_steps) shuffle_steps(steps, options.ratio, rng);
        if (options.mode == PerturbMode::delete_steps) delete_steps(steps, options.ratio, rng);
        if (options.mode == PerturbMode::insert_steps) {
          // Donors are turns of other records; drawn by rejection, which ends because one exists.
          std::size_t own = records_steps_count[turns[t].record];
          if (turns_with_steps.size() > own) {
            insert_steps(steps, options.ratio, rng, [&](Rng& r) {
              std::size_t d;
              do d = turns_with_steps[r.below(turns_with_steps.size())];
              while (turns[d].record == turns[t].record);
              const auto& from = turn_steps[d];
              return from[r.below(from.size())];
            });
          }
        }
        replaced = steps.join();
      }
      text.replace(thought->begin, thought->end - thought->begin, replaced);
    }
    if (text != before) ++report.changed;
  }
  for (TraceRecord& record : records) store_conversation(record.json, record.format, record.conversation);
  return report;
}

}  // namespace cotrain
