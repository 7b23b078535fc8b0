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

struct Predictions {
  std::map<std::string, std::vector<std::string>> responses;  // by question_id
  std::size_t skipped = 0;  // for problems outside the data or the filter
};

std::string question_id_of(const json& row, const std::string& at) {
  auto it = row.find("question_id");
  if (it == row.end()) fail_input("{}: missing field \"question_id\"", at);
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  fail_input("{}: field \"question_id\" is not a string", at);
}

Predictions read_predictions(const std::string& path, const std::set<std::string>& known) {
  Predictions p;
  for_each_jsonl(path, [&](json& row, std::size_t line) {
    std::string at = where(path, line);
    if (!row.is_object()) fail_input("{}: expected a JSON object", at);
    std::string id = question_id_of(row, at);
    std::vector<std::string> responses;
    if (row.contains("responses")) {
      if (!row["responses"].is_array()) fail_input("{}: field \"responses\" is not a list", at);
      for (const json& r : row["responses"]) {
        if (!r.is_string()) fail_input("{}: field \"responses\" holds a non-string", at);
        responses.push_back(r.get<std::string>());
      }
      if (responses.empty()) fail_input("{}: field \"responses\" is empty", at);
    } else if (row.contains("response") && row["response"].is_string()) {
      responses.push_back(row["response"].get<std::string>());
    } else {
      fail_input("{}: needs a string \"response\" or a list \"responses\"", at);
    }
    if (!known.count(id)) {
      ++p.skipped;
      return;
    }
    if (p.responses.count(id)) fail_input("{}: second prediction for question_id \"{}\"", at, id);
    p.responses[id] = std::move(responses);
  });
  return p;
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

// pass@k averaged over the judged problems, keyed "pass@K".
json pass_rates(const std::vector<std::pair<int, int>>& n_and_c) {
  json rates = json::object();
  for (auto [k, value] : mean_pass_at_k(n_and_c, n_and_c.size())) rates[fmt::format("pass@{}", k)] = value;
  return rates;
}

}  // namespace

json run_livecodebench_eval(const LiveCodeBenchEvalOptions& o) {
  if (o.data.empty()) fail_input("--data: required for livecodebench (the code_generation_lite JSONL file)");
  if (o.predictions.empty()) fail_input("--predictions: required");
  if (o.jobs < 1 || o.jobs > 64) fail_input("--jobs: must be between 1 and 64 (got {})", o.jobs);
  if (!(o.timeout_s > 0 && o.timeout_s <= 3600)) fail_input("--timeout: must be in (0, 3600] seconds (got {})", o.timeout_s);
  if (!o.out_dir.empty()) check_output_dir(o.out_dir, "eval");  // before hours of judging, not after
  ProblemFilter filter{o.release, o.since, o.until, o.difficulties, o.platforms};
  std::vector<CodeProblem> problems = load_problems(o.data, filter);
  std::set<std::string> ids;
  for (const CodeProblem& p : problems)
    if (!ids.insert(p.question_id).second) fail_input("{}: question_id \"{}\" appears twice", o.data, p.question_id);
  Predictions predictions = read_predictions(o.predictions, ids);

  std::vector<Sample> samples;
  std::size_t without_predictions = 0;
  for (std::size_t i = 0; i < problems.size(); ++i) {
    auto it = predictions.responses.find(problems[i].question_id);
    if (it == predictions.responses.end()) {
      ++without_predictions;
      continue;
    }
    for (std::size_t s = 0; s < it->second.size(); ++s)
      samples.push_back({i, static_cast<int>(s), extract_last_code_block(it->second[s])});
  }
  if (samples.empty()) fail_input("{}: no prediction matches a problem of {}", o.predictions, o.data);

  Sandbox sandbox(o.python);
  std::vector<Judgement> results = judge_all(sandbox, problems, samples, o);

  // Per problem: samples and passes, in data order.
  std::map<std::size_t, std::pair<int, int>> per_problem;
  std::map<std::string, int> verdicts;
  for (const std::string& v : all_verdicts()) verdicts[v] = 0;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    auto& [n, c] = per_problem[samples[i].problem];
    ++n;
    c += results[i].verdict == "passed";
    ++verdicts[results[i].verdict];
  }
  std::vector<std::pair<int, int>> everything;
  std::map<std::string, std::vector<std::pair<int, int>>> by_difficulty;
  for (auto& [problem, nc] : per_problem) {
    everything.push_back(nc);
    by_difficulty[problems[problem].difficulty].push_back(nc);
  }
  json report = {{"bench", "livecodebench"},
                 {"data", o.data},
                 {"predictions", o.predictions},
                 {"release", o.release},
                 {"since", o.since},
                 {"until", o.until},
                 {"timeout_s", o.timeout_s},
                 {"problems", everything.size()},
                 {"problems_without_predictions", without_predictions},
                 {"predictions_skipped", predictions.skipped},
                 {"samples", samples.size()},
                 {"verdicts", verdicts},
                 {"difficulties", o.difficulties},
                 {"platforms", o.platforms},
                 {"python", sandbox.python()},
                 {"sandbox", sandbox.features().to_json()},
                 {"sandbox_summary", sandbox.features().describe()}};
  report.update(pass_rates(everything));
  json difficulty = json::object();
  for (auto& [name, list] : by_difficulty) {
    difficulty[name] = pass_rates(list);
    difficulty[name]["problems"] = list.size();
  }
  report["by_difficulty"] = difficulty;

  if (!o.out_dir.empty()) {
    AtomicDir dir(o.out_dir, "eval");
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
    dir.commit();
  }

  return report;
}

std::string livecodebench_summary(const json& report) {
  std::string out = fmt::format("LiveCodeBench: {} problems, {} samples", report["problems"].get<std::size_t>(),
                                report["samples"].get<std::size_t>());
  auto without = report["problems_without_predictions"].get<std::size_t>(), skipped = report["predictions_skipped"].get<std::size_t>();
  if (without || skipped) out += fmt::format(" ({} problems without predictions, {} predictions skipped)", without, skipped);
  out += "\n";
  for (auto& [key, value] : report.items())
    if (key.rfind("pass@", 0) == 0) out += fmt::format("  {:<8} {:.4f}\n", key, value.get<double>());
  for (auto& [name, rates] : report["by_difficulty"].items())
    out += fmt::format("  {:<8} pass@1 {:.4f} ({} problems)\n", name, rates["pass@1"].get<double>(), rates["problems"].get<std::size_t>());
  out += "  verdicts:";
  for (auto& [v, count] : report["verdicts"].items()) out += fmt::format(" {} {};", v, count.get<int>());
  out += "\n  sandbox: " + report["sandbox_summary"].get<std::string>() + "\n";
  return out;
}

}  // namespace cotrain
