#include "cotrain/eval/math/math_eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <map>
#include <unordered_map>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/progress.h"
#include "cotrain/core/signals.h"
#include "cotrain/eval/pass_at_k.h"
#include "cotrain/eval/predictions.h"
#include "cotrain/eval/registry.h"
#include "cotrain/eval/math/benchmarks.h"
#include "cotrain/eval/math/equivalence.h"

namespace cotrain {
namespace {

using nlohmann::json;

// Which problem a prediction row is for: "idx" as the 0-based row number, or the benchmark's own id.
std::optional<std::size_t> problem_of(const json& row, const Benchmark& b, const std::unordered_map<std::string, std::size_t>& by_id,
                                      const std::string& at, std::string& label) {
  if (auto it = row.find("idx"); it != row.end() && it->is_number_integer()) {
    long long i = it->get<long long>();
    label = std::to_string(i);
    if (i < 0 || static_cast<std::size_t>(i) >= b.problems.size()) return std::nullopt;
    return static_cast<std::size_t>(i);
  }
  auto it = row.find(b.id_field);
  if (it == row.end()) {
    if (row.contains("idx")) fail_input("{}: field \"idx\" is not an integer", at);
    fail_input("{}: missing field \"idx\" (or \"{}\")", at, b.id_field);
  }
  if (!it->is_string() && !it->is_number_integer()) fail_input("{}: field \"{}\" is not a string or integer", at, b.id_field);
  label = it->is_string() ? it->get<std::string>() : std::to_string(it->get<long long>());
  auto found = by_id.find(label);
  if (found == by_id.end()) return std::nullopt;
  return found->second;
}

Predictions read_math_predictions(const std::string& path, const Benchmark& b) {
  std::unordered_map<std::string, std::size_t> by_id;
  for (std::size_t i = 0; i < b.problems.size(); ++i)
    if (!b.problems[i].id.empty()) by_id.emplace(b.problems[i].id, i);
  return read_predictions(path, b.problems.size(), [&](const json& row, const std::string& at, std::string& label) {
    return problem_of(row, b, by_id, at, label);
  });
}

struct Group {
  std::size_t problems = 0;
  double score = 0;
};

json group_json(const std::map<std::string, Group>& groups) {
  json out = json::object();
  for (const auto& [key, g] : groups) out[key] = {{"problems", g.problems}, {"accuracy", g.problems ? g.score / g.problems : 0.0}};
  return out;
}

}  // namespace

json run_math_eval(const MathEvalOptions& o) {
  Benchmark bench = load_benchmark(o.bench, benchmark_path(o.bench, o.data_file, o.data_dir));
  if (o.limit > 0 && o.limit < bench.problems.size()) bench.problems.resize(o.limit);  // the problems asked for
  Predictions preds;
  if (o.responses) {
    if (o.responses->size() != bench.problems.size()) {
      fail_runtime("{}: {} lists of responses for {} problems", o.bench, o.responses->size(), bench.problems.size());
    }
    preds.responses = *o.responses;
  } else {
    preds = read_math_predictions(o.predictions, bench);
  }
  std::optional<AtomicDir> out_dir;
  std::optional<std::ofstream> results;
  if (!o.out_dir.empty()) {
    out_dir.emplace(o.out_dir, kEvalOutputKind);
    results.emplace(out_dir->path() / "results.jsonl", std::ios::binary);
  }

  ExtractOptions extract;
  extract.strict = o.strict;
  std::size_t missing = 0, predicted = 0, samples = 0, correct_samples = 0, no_answer = 0, truncated = 0;
  std::size_t problems_untruncated = 0;
  double score_untruncated = 0;  // mean over problems of the mean over their untruncated samples
  double score = 0, chars = 0, tokens = 0;
  std::vector<std::size_t> keyword_counts(o.reflection_keywords.size(), 0);
  std::map<std::string, Group> by_level, by_subject, by_type;
  std::vector<std::pair<int, int>> n_and_c;  // per predicted problem
  Progress progress("grading", static_cast<std::int64_t>(bench.problems.size()), "problems");
  for (std::size_t i = 0; i < bench.problems.size(); ++i) {
    throw_if_stopped();
    const Problem& problem = bench.problems[i];
    const auto& responses = preds.responses[i];
    int correct = 0, whole = 0, whole_correct = 0;
    for (std::size_t s = 0; s < responses.size(); ++s) {
      Grade g = grade(problem.gold, responses[s], false, extract);
      correct += g.equal;
      const bool cut = i < o.truncated.size() && s < o.truncated[i].size() && o.truncated[i][s];
      truncated += cut;
      whole += !cut;
      whole_correct += !cut && g.equal;
      no_answer += g.pred_answer.empty();
      chars += static_cast<double>(responses[s].size());
      if (o.count_tokens) tokens += static_cast<double>(o.count_tokens(responses[s]));
      if (o.count_keywords) {
        auto counts = o.count_keywords(responses[s]);
        for (std::size_t k = 0; k < counts.size() && k < keyword_counts.size(); ++k) keyword_counts[k] += counts[k];
      }
      if (results) {
        json line = {{"idx", i}, {"id", problem.id}, {"sample", s}, {"gold", problem.gold}, {"extracted", g.pred_answer},
                     {"extraction", g.extraction}, {"gold_normalized", g.gold_normalized}, {"pred_normalized", g.pred_normalized},
                     {"equal", g.equal}, {"reason", g.reason}};
        if (!o.truncated.empty()) line["truncated"] = cut;
        *results << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
      }
    }
    if (whole > 0) {
      ++problems_untruncated;
      score_untruncated += static_cast<double>(whole_correct) / whole;
    }
    double problem_score = 0;
    if (responses.empty()) {
      ++missing;  // a problem without a prediction scores 0: the accuracy is over the whole benchmark
    } else {
      ++predicted;
      samples += responses.size();
      correct_samples += static_cast<std::size_t>(correct);
      problem_score = static_cast<double>(correct) / static_cast<double>(responses.size());
      n_and_c.emplace_back(static_cast<int>(responses.size()), correct);
    }
    score += problem_score;
    auto add = [&](std::map<std::string, Group>& groups, const std::string& key) {
      if (key.empty()) return;
      groups[key].problems++;
      groups[key].score += problem_score;
    };
    add(by_level, problem.level.empty() ? "" : "level " + problem.level);
    add(by_subject, o.bench == "math500" ? problem.subject : "");
    add(by_type, problem.answer_type);
    progress.advance();
  }
  progress.finish();

  // pass@k over all problems (those without predictions count as 0)
  json pass = json::object();
  for (auto [k, value] : mean_pass_at_k(n_and_c, bench.problems.size())) pass[std::to_string(k)] = value;
  json keywords = json::object();
  std::size_t keyword_total = 0;
  for (std::size_t k = 0; k < keyword_counts.size(); ++k) {
    keywords[o.reflection_keywords[k]] = keyword_counts[k];
    keyword_total += keyword_counts[k];
  }
  double per_sample = samples ? 1.0 / static_cast<double>(samples) : 0.0;
  json report = {{"bench", o.bench},
                 {"data", bench.path.string()},
                 {"predictions", o.predictions},
                 {"problems", bench.problems.size()},
                 {"predicted_problems", predicted},
                 {"samples", samples},
                 {"accuracy", score / static_cast<double>(bench.problems.size())},
                 {"accuracy_over_predicted", predicted ? score / static_cast<double>(predicted) : 0.0},
                 {"correct_samples", correct_samples},
                 {"pass_at_k", pass},
                 {"by_level", group_json(by_level)},
                 {"by_subject", group_json(by_subject)},
                 {"by_answer_type", group_json(by_type)},
                 {"missing", missing},
                 {"duplicates", preds.duplicates},
                 {"duplicate_examples", preds.duplicate_examples},
                 {"unknown", preds.unknown},
                 {"unknown_examples", preds.unknown_examples},
                 {"no_answer_extracted", no_answer},
                 {"strict", o.strict},
                 {"mean_response_chars", chars * per_sample},
                 {"reflection_keywords", keywords}};
  if (o.count_keywords) report["reflection_keywords_per_response"] = static_cast<double>(keyword_total) * per_sample;
  if (o.count_tokens) report["mean_response_tokens"] = tokens * per_sample;
  if (o.limit > 0) report["limit"] = o.limit;
  if (!o.generation.is_null()) {
    report["generation"] = o.generation;
    report["generation"]["samples"] = samples;
    report["generation"]["truncated"] = truncated;
    // A truncated, looping response can end in the gold's digits and pass the last-number rule.
    report["generation"]["accuracy_without_truncated"] = problems_untruncated ? score_untruncated / problems_untruncated : 0.0;
    report["generation"]["problems_with_untruncated_samples"] = problems_untruncated;
  }
  if (out_dir) {
    for (const auto& file : o.carry_files) out_dir->carry(file);
    results->close();
    if (!*results) fail_runtime("{}: write error", (out_dir->path() / "results.jsonl").string());
    std::ofstream r(out_dir->path() / "report.json", std::ios::binary);
    r << report.dump(2) << '\n';
    r.close();
    if (!r) fail_runtime("{}: write error", (out_dir->path() / "report.json").string());
    out_dir->commit();
  }
  return report;
}

std::string math_eval_summary(const json& r) {
  std::ostringstream out;
  out << fmt::format("{}: {} problems, {} predicted, {} samples\n", r["bench"].get<std::string>(), r["problems"].get<int>(),
                     r["predicted_problems"].get<int>(), r["samples"].get<int>());
  out << fmt::format("  {:<28}{:>8.4f}\n", "accuracy (avg over samples)", r["accuracy"].get<double>());
  for (auto& [k, v] : r["pass_at_k"].items()) out << fmt::format("  {:<28}{:>8.4f}\n", "pass@" + k, v.get<double>());
  for (const char* key : {"by_level", "by_subject", "by_answer_type"}) {
    if (r[key].empty()) continue;
    out << "  " << key << ":\n";
    for (auto& [k, v] : r[key].items())
      out << fmt::format("    {:<26}{:>8.4f}  ({} problems)\n", k, v["accuracy"].get<double>(), v["problems"].get<int>());
  }
  out << fmt::format("  missing {}  duplicate {}  unknown {}  no answer found {}\n", r["missing"].get<int>(), r["duplicates"].get<int>(),
                     r["unknown"].get<int>(), r["no_answer_extracted"].get<int>());
  out << fmt::format("  mean response length {:.0f} chars", r["mean_response_chars"].get<double>());
  if (r.contains("mean_response_tokens")) out << fmt::format(", {:.0f} tokens", r["mean_response_tokens"].get<double>());
  if (r.contains("reflection_keywords_per_response"))
    out << fmt::format("; reflection keywords per response {:.2f}", r["reflection_keywords_per_response"].get<double>());
  out << "\n";
  if (r.contains("generation")) {
    const json& g = r["generation"];
    out << fmt::format("  generated {} samples, {} hit the token limit; accuracy without them {:.4f}", g["samples"].get<int>(),
                       g["truncated"].get<int>(), g["accuracy_without_truncated"].get<double>());
    if (g.contains("tokens_per_s")) out << fmt::format("; {:.1f} tokens/s", g["tokens_per_s"].get<double>());
    out << "\n";
  }
  return out.str();
}

}  // namespace cotrain
