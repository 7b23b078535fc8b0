// cotrain eval: grade a benchmark's responses, either generated elsewhere (--predictions) or by
// cotrain from a model (--model, with the benchmark's prompt). Math benchmarks go to the math
// checker, livecodebench to the code judge (eval/registry.h says which is which).
#include <iostream>

#include "commands.h"
#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/data/reasoning.h"
#include "cotrain/eval/code/livecodebench_eval.h"
#include "cotrain/eval/math/benchmarks.h"
#include "cotrain/eval/math/math_eval.h"
#include "cotrain/eval/registry.h"
#include "cotrain/generate/run.h"
#include "cotrain/tokenizer/tokenizer.h"
#include "generation_flags.h"

namespace cotrain::cli {
namespace {

struct EvalArgs {
  std::string bench, predictions, data_dir, data, out, tokenizer;
  std::size_t limit = 0;
  bool strict = false;
  GenerationJob job;  // --model
  // livecodebench
  int jobs = 1;
  double timeout = 6.0;
  std::string release, since, until, python = "python3";
  std::vector<std::string> difficulties, platforms;
};

// Responses by problem from a generation run, with which ones hit the token limit.
struct Generated {
  std::vector<std::vector<std::string>> responses;
  std::vector<std::vector<bool>> truncated;
  nlohmann::json settings;
  std::string file;
};

Generated generate_responses(const EvalArgs& a, const std::vector<std::string>& prompts) {
#ifdef COTRAIN_WITH_TORCH
  if (a.out.empty()) fail_input("--model: needs --out DIR (the generations are kept there, so an interrupted run continues)");
  prepare_output_dir(a.out, kEvalOutputKind);  // refused before any work unless absent, empty or an earlier eval output
  std::vector<Conversation> conversations;
  for (const auto& prompt : prompts) conversations.push_back({{"user", prompt}});
  Generated g;
  g.file = (std::filesystem::path(a.out) / "generations.jsonl").string();
  auto run = run_generation(a.job, conversations, g.file);
  for (const auto& samples : run.samples) {
    g.responses.emplace_back();
    g.truncated.emplace_back();
    for (const auto& s : samples) {
      g.responses.back().push_back(s.text);
      g.truncated.back().push_back(s.finish_reason == "length");
    }
  }
  g.settings = run.settings;
  g.settings["batch_size"] = a.job.settings.batch_size;
  g.settings["new_tokens"] = run.new_tokens;
  g.settings["seconds"] = run.seconds;
  g.settings["resumed_prompts"] = run.resumed_prompts;
  if (run.seconds > 0) g.settings["tokens_per_s"] = static_cast<double>(run.new_tokens) / run.seconds;
  return g;
#else
  (void)a, (void)prompts;
  fail_input("--model: this cotrain was built without libtorch; generate elsewhere and grade with --predictions");
#endif
}

// Math and code options take generated responses alike.
template <class Options>
void use_generated(Options& o, Generated&& g) {
  o.responses = std::move(g.responses);
  o.truncated = std::move(g.truncated);
  o.generation = std::move(g.settings);
  o.carry_files = {g.file, g.file + ".settings.json"};
}

void run_eval(const EvalArgs& a) {
  const BenchmarkInfo& info = find_benchmark(a.bench);
  const bool generate = !a.job.model.empty();
  if (generate == !a.predictions.empty()) fail_input("--predictions or --model: give exactly one");
  if (!a.job.adapter.empty() && !generate) fail_input("--adapter: needs --model (the base the adapter was trained on)");
  if (info.kind == BenchmarkKind::Code) {
    if (!a.data_dir.empty()) fail_input("--data-dir: for the math benchmarks; give livecodebench's file with --data");
    LiveCodeBenchEvalOptions o;
    o.data = a.data;
    o.predictions = a.predictions;
    o.out_dir = a.out;
    o.jobs = a.jobs;
    o.timeout_s = a.timeout;
    o.release = a.release;
    o.since = a.since;
    o.until = a.until;
    o.python = a.python;
    o.difficulties = a.difficulties;
    o.platforms = a.platforms;
    o.limit = a.limit;
    if (generate) {
      std::vector<std::string> prompts;
      for (const auto& problem : livecodebench_problems(o)) prompts.push_back(livecodebench_prompt(problem));
      use_generated(o, generate_responses(a, prompts));
    }
    std::cout << livecodebench_summary(run_livecodebench_eval(o));
    return;
  }
  MathEvalOptions o;
  o.bench = a.bench;
  o.predictions = a.predictions;
  o.data_file = a.data;
  o.data_dir = a.data_dir;
  o.out_dir = a.out;
  o.strict = a.strict;
  o.limit = a.limit;
  std::shared_ptr<Tokenizer> tokenizer;
  std::string tokenizer_path = !a.tokenizer.empty() ? a.tokenizer : generate ? a.job.model.string() : "";
  if (!tokenizer_path.empty()) {
    tokenizer = Tokenizer::load(tokenizer_path);
    o.count_tokens = [tokenizer](std::string_view text) { return tokenizer->encode(text).size(); };
  }
  o.reflection_keywords = default_reflection_keywords();
  o.count_keywords = [&keywords = o.reflection_keywords](std::string_view text) { return count_keywords(text, keywords); };
  if (generate) {
    Benchmark bench = load_benchmark(a.bench, benchmark_path(a.bench, a.data, a.data_dir));
    const std::size_t count = a.limit > 0 ? std::min(a.limit, bench.problems.size()) : bench.problems.size();
    std::vector<std::string> prompts;
    for (std::size_t i = 0; i < count; ++i) prompts.push_back(math_prompt(bench.problems[i]));
    use_generated(o, generate_responses(a, prompts));
  }
  std::cout << math_eval_summary(run_math_eval(o));
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Grade a benchmark: predictions made elsewhere, or generate them from a model");
  cmd->add_option("--bench", a->bench, benchmark_names_text())->required();
  cmd->add_option("--predictions", a->predictions, "JSONL: {\"idx\", \"response\"} or {\"idx\", \"responses\": [...]}");
  cmd->add_option("--model", a->job.model, "generate the responses with this model (Hugging Face directory)");
  cmd->add_option("--limit", a->limit, "the first N problems only (accuracy is over them)");
  cmd->add_option("--data-dir", a->data_dir, "benchmark root: DIR/NAME/test.jsonl (default $COTRAIN_DATA or ~/.cache/cotrain/benchmarks)");
  cmd->add_option("--data", a->data, "the benchmark file itself");
  cmd->add_option("--out", a->out, "directory for results.jsonl and report.json (written atomically); with --model also generations.jsonl");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json or model dir, for the mean response length in tokens (default: --model's)");
  cmd->add_flag("--strict", a->strict, "math: take answers only from \\boxed{}");
  cmd->add_option("--jobs", a->jobs, "livecodebench: programs judged in parallel")->capture_default_str();
  cmd->add_option("--timeout", a->timeout, "livecodebench: seconds per test")->capture_default_str();
  cmd->add_option("--release", a->release, "livecodebench: release version, e.g. v2");
  cmd->add_option("--since", a->since, "livecodebench: first contest date (YYYY-MM-DD)");
  cmd->add_option("--until", a->until, "livecodebench: last contest date (YYYY-MM-DD)");
  cmd->add_option("--python", a->python, "livecodebench: the interpreter that runs the programs")->capture_default_str();
  cmd->add_option("--difficulty", a->difficulties, "livecodebench: only these difficulties (easy,medium,hard)")->delimiter(',');
  cmd->add_option("--platform", a->platforms, "livecodebench: only these platforms (atcoder,codeforces,leetcode)")->delimiter(',');
#ifdef COTRAIN_WITH_TORCH
  add_generation_flags(cmd, a->job, /*with_model=*/false);
#endif
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace cotrain::cli
