#include "cotrain/data/filter.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/progress.h"
#include "cotrain/core/signals.h"
#include "cotrain/eval/code/extract_code.h"
#include "cotrain/eval/code/judge.h"
#include "cotrain/eval/code/problems.h"
#include "cotrain/eval/code/sandbox.h"
#include "cotrain/eval/math/equivalence.h"

namespace cotrain {
namespace {

using nlohmann::json;

std::string trim(std::string_view s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return "";
  return std::string(s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1));
}

struct Verdict {
  bool keep = false;
  std::string reason, detail;
};

struct Item {
  TraceRecord record;
  std::string response;
  std::optional<std::string> gold;        // math
  const CodeProblem* problem = nullptr;   // code
  Verdict verdict;
};

template <class JsonType>
std::string gold_text(const JsonType& value) {
  if (value.is_string()) return value.template get<std::string>();
  if (value.is_number()) return value.dump();
  return "";
}

}  // namespace

std::string problem_text_of(std::string_view user_turn) {
  std::string text = trim(user_turn);
  for (std::string_view prefix :
       {std::string_view("Return your final response within \\boxed{}."),
        std::string_view("Generate an executable Python function generated from the given prompt. The function should take stdin "
                         "as input and print the output. Simply call the function after the definition."),
        std::string_view("Generate an executable Python function generated from the given prompt. Return the function body "
                         "without invoking it at the final solution.")}) {
    if (text.starts_with(prefix)) return trim(std::string_view(text).substr(prefix.size()));
  }
  return text;
}

FilterResult filter_traces(const FilterOptions& o) {
  if (o.gold_field.empty() == o.bench_data.empty()) fail_input("--gold-field or --bench-data: give exactly one");
  if (o.jobs < 1 || o.jobs > 64) fail_input("--jobs: must be between 1 and 64 (got {})", o.jobs);
  if (!(o.timeout_s > 0 && o.timeout_s <= 3600)) fail_input("--timeout: must be in (0, 3600] seconds (got {})", o.timeout_s);

  // The problems, by their text.
  std::map<std::string, std::string> math_gold;
  std::vector<CodeProblem> code_problems;
  std::map<std::string, const CodeProblem*> code_by_text;
  bool code = false;
  if (!o.bench_data.empty()) {
    bool first = true;
    for_each_jsonl(o.bench_data, [&](json& row, std::size_t line) {
      if (first) code = row.is_object() && row.contains("question_content");
      first = false;
      if (code) return;
      const std::string at = where(o.bench_data, line);
      const char* question = row.contains("problem") ? "problem" : "question";
      if (!row.is_object() || !row.contains(question) || !row[question].is_string())
        fail_input("{}: needs a string \"problem\" (or \"question\")", at);
      const char* answer = row.contains("answer") ? "answer" : "final_answer";
      if (!row.contains(answer)) fail_input("{}: needs an \"answer\"", at);
      std::string gold = row[answer].is_array() && !row[answer].empty() ? gold_text(row[answer][0]) : gold_text(row[answer]);
      math_gold.emplace(trim(row[question].get<std::string>()), gold);
    });
    if (code) {
      code_problems = load_problems(o.bench_data);
      for (const auto& p : code_problems) code_by_text.emplace(trim(p.question_content), &p);
    }
  }

  std::vector<Item> items;
  for_each_trace(o.traces, o.format, [&](TraceRecord& record) {
    Item item;
    const ChatMessage* user = nullptr;
    for (const auto& m : record.conversation)
      if (m.role == "user") user = &m;
    item.response = assistant_turns(record.conversation).back()->content;
    if (!o.gold_field.empty()) {
      auto it = record.json.find(o.gold_field);
      if (it != record.json.end()) item.gold = gold_text(*it);
      if (!item.gold || item.gold->empty()) item.verdict = {false, "no gold", "field " + o.gold_field + " missing or not a string/number"};
    } else {
      const std::string text = user ? problem_text_of(user->content) : "";
      if (code) {
        if (auto it = code_by_text.find(text); it != code_by_text.end()) item.problem = it->second;
      } else if (auto it = math_gold.find(text); it != math_gold.end()) {
        item.gold = it->second;
      }
      if (!item.gold && !item.problem) item.verdict = {false, "no matching problem", "no problem of the bench data has this user turn's text"};
    }
    item.record = std::move(record);
    items.push_back(std::move(item));
  });

  // The outputs are opened before the work, so an unusable one fails fast.
  FilterResult result;
  result.rejects = !o.rejects.empty() ? o.rejects
                   : o.out.extension() == ".jsonl" ? std::filesystem::path(o.out).replace_extension(".rejects.jsonl")
                                                   : std::filesystem::path(o.out.string() + ".rejects.jsonl");
  result.summary = o.out.string() + ".summary.json";
  std::error_code ec;
  if (std::filesystem::weakly_canonical(o.out, ec) == std::filesystem::weakly_canonical(result.rejects, ec)) {
    fail_input("--rejects: {} is the same file as --out", result.rejects.string());
  }
  AtomicFile kept(o.out), rejects(result.rejects), summary_file(result.summary);

  // Math grading is quick; code runs in the sandbox on `jobs` threads.
  std::optional<Sandbox> sandbox;
  if (code) sandbox.emplace(o.python);
  ExtractOptions extract;
  extract.strict = o.strict;
  Progress progress("filtering", static_cast<std::int64_t>(items.size()), "traces");
  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  std::exception_ptr error;
  auto worker = [&] {
    try {
      std::optional<UidLease> uid;
      if (sandbox) uid.emplace(sandbox->lease_uid());
      for (std::size_t i; !stop_requested() && (i = next++) < items.size();) {
        Item& item = items[i];
        if (item.gold) {
          Grade g = grade(*item.gold, item.response, /*extract_gold=*/false, extract);
          if (g.pred_answer.empty()) {
            item.verdict = {false, "no answer found", ""};
          } else {
            item.verdict = {g.equal, g.equal ? "correct" : "wrong answer", fmt::format("extracted {}, gold {}", g.pred_answer, *item.gold)};
          }
        } else if (item.problem) {
          std::string program = extract_last_code_block(item.response);
          if (program.empty()) {
            item.verdict = {false, "no code block", ""};
          } else {
            Judgement j = judge_program(*sandbox, *item.problem, program, o.timeout_s, *uid);
            item.verdict = {j.verdict == "passed", j.verdict, j.failed_test >= 0 ? fmt::format("test {}", j.failed_test) : j.message};
          }
        }
        std::lock_guard lock(mutex);
        progress.advance();
      }
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!error) error = std::current_exception();
      next = items.size();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < (code ? o.jobs : 1); ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  progress.finish();
  if (error) std::rethrow_exception(error);
  throw_if_stopped();

  for (const Item& item : items) {
    if (item.verdict.keep) {
      kept.stream() << item.record.json.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
      ++result.kept;
      continue;
    }
    ++result.rejected;
    ++result.reasons[item.verdict.reason];
    Json row = {{"line", item.record.line}, {"reason", item.verdict.reason}, {"detail", item.verdict.detail}, {"record", item.record.json}};
    rejects.stream() << row.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
  }
  json summary = {{"traces", o.traces.string()}, {"kept", result.kept}, {"rejected", result.rejected}, {"rejected_by_reason", result.reasons},
                  {"checker", code ? "code (sandbox)" : "math"}, {"out", o.out.string()}, {"rejects", result.rejects.string()}};
  summary_file.stream() << summary.dump(2) << '\n';
  kept.commit();
  rejects.commit();
  summary_file.commit();
  return result;
}

}  // namespace cotrain
