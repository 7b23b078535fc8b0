#include "cotrain/eval/code/livecodebench_eval.h"

#include <fmt/format.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/progress.h"
#include "cotrain/core/signals.h"
#include "cotrain/eval/code/extract_code.h"
#include "cotrain/eval/code/judge.h"
#include "cotrain/eval/pass_at_k.h"
#include "cotrain/eval/predictions.h"
#include "cotrain/eval/registry.h"
#include "cotrain/eval/code/problems.h"
#include "cotrain/eval/code/sandbox.h"

namespace cotrain {
namespace {

using nlohmann::json;

struct Sample {
  std::size_t problem;
  int index;
  std::string code;
};

std::string question_id_of(const json& row, const std::string& at) {
  auto it = row.find("question_id");
  if (it == row.end()) fail_input("{}: missing field \"question_id\"", at);
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  fail_input("{}: field \"question_id\" is not a string", at);
}

std::vector<Judgement> judge_all(const Sandbox& sandbox, const std::vector<CodeProblem>& problems,
                                 const std::vector<Sample>& samples, const LiveCodeBenchEvalOptions& o) {
  std::vector<Judgement> results(samples.size());
  std::atomic<std::size_t> next{0};
  std::mutex progress_mutex;
  Progress progress("judging", static_cast<std::int64_t>(samples.size()), "samples");
  std::exception_ptr error;
  auto worker = [&] {
    try {
      UidLease uid = sandbox.lease_uid();
      for (std::size_t i; !stop_requested() && (i = next++) < samples.size();) {
        results[i] = judge_program(sandbox, problems[samples[i].problem], samples[i].code, o.timeout_s, uid);
        std::lock_guard lock(progress_mutex);
        progress.advance();
      }
    } catch (...) {
      std::lock_guard lock(progress_mutex);
      if (!error) error = std::current_exception();
      next = samples.size();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < o.jobs; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  progress.finish();
  if (error) std::rethrow_exception(error);
  throw_if_stopped();
  return results;
}

// pass@k averaged over PROBLEMS problems (those without samples count 0), keyed "pass@K".
json pass_rates(const std::vector<std::pair<int, int>>& n_and_c, std::size_t problems) {
  json rates = json::object();
  for (auto [k, value] : mean_pass_at_k(n_and_c, problems)) rates[fmt::format("pass@{}", k)] = value;
  return rates;
}

}  // namespace

std::vector<CodeProblem> livecodebench_problems(const LiveCodeBenchEvalOptions& o) {
  if (o.data.empty()) fail_input("--data: required for livecodebench (the code_generation_lite JSONL file)");
  ProblemFilter filter{o.release, o.since, o.until, o.difficulties, o.platforms};
  std::vector<CodeProblem> problems = load_problems(o.data, filter);
  std::set<std::string> ids;
  for (const CodeProblem& p : problems)
    if (!ids.insert(p.question_id).second) fail_input("{}: question_id \"{}\" appears twice", o.data, p.question_id);
  if (o.limit > 0 && o.limit < problems.size()) problems.resize(o.limit);
  return problems;
}

std::string livecodebench_prompt(const CodeProblem& problem) {
  const std::string head = "Generate an executable Python function generated from the given prompt. ";
  if (!problem.functional()) {
    return head + "The function should take stdin as input and print the output. Simply call the function after the definition." +
           problem.question_content;
  }
  std::string prompt = head + "Return the function body without invoking it at the final solution." + problem.question_content;
  if (!problem.starter_code.empty()) prompt += "\n" + problem.starter_code;
  return prompt;
}

json run_livecodebench_eval(const LiveCodeBenchEvalOptions& o) {
  if (o.jobs < 1 || o.jobs > 64) fail_input("--jobs: must be between 1 and 64 (got {})", o.jobs);
  if (!(o.timeout_s > 0 && o.timeout_s <= 3600)) fail_input("--timeout: must be in (0, 3600] seconds (got {})", o.timeout_s);
  if (!o.out_dir.empty()) check_output_dir(o.out_dir, kEvalOutputKind);  // before hours of judging, not after
  std::vector<CodeProblem> problems = livecodebench_problems(o);
  Predictions predictions;
  if (o.responses) {
    if (o.responses->size() != problems.size()) {
      fail_runtime("livecodebench: {} lists of responses for {} problems", o.responses->size(), problems.size());
    }
    predictions.responses = *o.responses;
  } else {
    if (o.predictions.empty()) fail_input("--predictions: required");
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < problems.size(); ++i) index[problems[i].question_id] = i;
    predictions = read_predictions(o.predictions, problems.size(), [&](const json& row, const std::string& at, std::string& label) {
      label = question_id_of(row, at);
      auto it = index.find(label);
      return it == index.end() ? std::nullopt : std::optional<std::size_t>(it->second);
    });
  }

  std::vector<Sample> samples;
  std::size_t without_predictions = 0;
  for (std::size_t i = 0; i < problems.size(); ++i) {
    const auto& responses = predictions.responses[i];
    if (responses.empty()) ++without_predictions;
    for (std::size_t s = 0; s < responses.size(); ++s) samples.push_back({i, static_cast<int>(s), extract_last_code_block(responses[s])});
  }
  if (samples.empty()) fail_input("{}: no prediction matches a problem of {}", o.predictions, o.data);

  Sandbox sandbox(o.python);
  std::vector<Judgement> results = judge_all(sandbox, problems, samples, o);

  // Per problem: samples and passes, in data order.
  std::map<std::size_t, std::pair<int, int>> per_problem;
  std::map<std::string, int> verdicts;
  for (const std::string& v : all_verdicts()) verdicts[v] = 0;
  std::size_t truncated = 0, problems_untruncated = 0;
  std::map<std::size_t, std::pair<int, int>> untruncated;  // per problem: whole samples, passed
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto problem = samples[i].problem;
    const auto s = static_cast<std::size_t>(samples[i].index);
    auto& [n, c] = per_problem[problem];
    const bool passed = results[i].verdict == "passed";
    ++n;
    c += passed;
    ++verdicts[results[i].verdict];
    const bool cut = problem < o.truncated.size() && s < o.truncated[problem].size() && o.truncated[problem][s];
    truncated += cut;
    if (!cut) {
      ++untruncated[problem].first;
      untruncated[problem].second += passed;
    }
  }
  std::vector<std::pair<int, int>> everything;
  std::map<std::string, std::vector<std::pair<int, int>>> by_difficulty;
  std::map<std::string, std::size_t> difficulty_problems;
  for (const auto& p : problems) ++difficulty_problems[p.difficulty];
  for (auto& [problem, nc] : per_problem) {
    everything.push_back(nc);
    by_difficulty[problems[problem].difficulty].push_back(nc);
  }
  double score_untruncated = 0;
  for (auto& [_, nc] : untruncated) {
    if (nc.first == 0) continue;
    ++problems_untruncated;
    score_untruncated += static_cast<double>(nc.second) / nc.first;
  }
  json report = {{"bench", "livecodebench"},
                 {"data", o.data},
                 {"predictions", o.predictions},
                 {"release", o.release},
                 {"since", o.since},
                 {"until", o.until},
                 {"timeout_s", o.timeout_s},
                 {"problems", problems.size()},
                 {"predicted_problems", everything.size()},
                 {"problems_without_predictions", without_predictions},
                 {"duplicates", predictions.duplicates},
                 {"duplicate_examples", predictions.duplicate_examples},
                 {"unknown", predictions.unknown},
                 {"unknown_examples", predictions.unknown_examples},
                 {"samples", samples.size()},
                 {"verdicts", verdicts},
                 {"difficulties", o.difficulties},
                 {"platforms", o.platforms},
                 {"python", sandbox.python()},
                 {"sandbox", sandbox.features().to_json()},
                 {"sandbox_summary", sandbox.features().describe()}};
  if (o.limit > 0) report["limit"] = o.limit;
  report.update(pass_rates(everything, problems.size()));
  json difficulty = json::object();
  for (auto& [name, count] : difficulty_problems) {
    difficulty[name] = pass_rates(by_difficulty[name], count);
    difficulty[name]["problems"] = count;
  }
  report["by_difficulty"] = difficulty;
  if (!o.generation.is_null()) {
    report["generation"] = o.generation;
    report["generation"]["samples"] = samples.size();
    report["generation"]["truncated"] = truncated;
    report["generation"]["accuracy_without_truncated"] = problems_untruncated ? score_untruncated / problems_untruncated : 0.0;
    report["generation"]["problems_with_untruncated_samples"] = problems_untruncated;
  }

  if (!o.out_dir.empty()) {
    AtomicDir dir(o.out_dir, kEvalOutputKind);
    AtomicFile results_file(dir.path() / "results.jsonl");
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const Judgement& j = results[i];
      json row = {{"question_id", problems[samples[i].problem].question_id},
                  {"sample", samples[i].index},
                  {"passed", j.verdict == "passed"},
                  {"verdict", j.verdict},
                  {"failed_test", j.failed_test},
                  {"time", j.seconds}};
      if (!j.message.empty()) row["message"] = j.message;
      results_file.stream() << row.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
    }
    results_file.commit();
    AtomicFile report_file(dir.path() / "report.json");
    report_file.stream() << report.dump(2) << '\n';
    report_file.commit();
    for (const auto& file : o.carry_files) dir.carry(file);
    dir.commit();
  }
  return report;
}

std::string livecodebench_summary(const json& report) {
  std::string out = fmt::format("LiveCodeBench: {} problems, {} samples", report["problems"].get<std::size_t>(),
                                report["samples"].get<std::size_t>());
  const auto without = report["problems_without_predictions"].get<std::size_t>();
  const auto unknown = report["unknown"].get<std::size_t>(), duplicates = report["duplicates"].get<std::size_t>();
  if (without || unknown || duplicates) {
    out += fmt::format(" ({} problems without predictions, {} unknown and {} duplicate prediction lines)", without, unknown, duplicates);
  }
  out += "\n";
  for (auto& [key, value] : report.items())
    if (key.rfind("pass@", 0) == 0) out += fmt::format("  {:<8} {:.4f}\n", key, value.get<double>());
  for (auto& [name, rates] : report["by_difficulty"].items())
    if (rates.contains("pass@1"))
      out += fmt::format("  {:<8} pass@1 {:.4f} ({} problems)\n", name, rates["pass@1"].get<double>(), rates["problems"].get<std::size_t>());
  out += "  verdicts:";
  for (auto& [v, count] : report["verdicts"].items()) out += fmt::format(" {} {};", v, count.get<int>());
  out += "\n  sandbox: " + report["sandbox_summary"].get<std::string>() + "\n";
  if (report.contains("generation")) {
    const json& g = report["generation"];
    out += fmt::format("  generated {} samples, {} hit the token limit; pass@1 without them {:.4f}\n", g["samples"].get<std::size_t>(),
                       g["truncated"].get<std::size_t>(), g["accuracy_without_truncated"].get<double>());
  }
  return out;
}

}  // namespace cotrain
