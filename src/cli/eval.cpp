// cotrain eval: grade generations made elsewhere. Math benchmarks (math500, aime24, amc23,
// olympiadbench, minerva_math) go to the math checker, livecodebench to the code judge.
#include <iostream>

#include "commands.h"
#include "cotrain/core/error.h"
#include "cotrain/data/reasoning.h"
#include "cotrain/eval/code/livecodebench_eval.h"
#include "cotrain/eval/math/benchmarks.h"
#include "cotrain/eval/math/math_eval.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain::cli {
namespace {

struct EvalArgs {
  std::string bench, predictions, data_dir, data, out, tokenizer;
  bool strict = false;
  // livecodebench
  int jobs = 1;
  double timeout = 6.0;
  std::string release, since, until, python = "python3";
  std::vector<std::string> difficulties, platforms;
};

void run_eval(const EvalArgs& a) {
  if (a.bench == "livecodebench") {
    if (!a.data_dir.empty()) fail_input("--data-dir is for the math benchmarks; give livecodebench's file with --data");
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
    std::cout << livecodebench_summary(run_livecodebench_eval(o));
    return;
  }
  if (!is_math_benchmark(a.bench))
    fail_input("--bench {}: unknown benchmark (math500, aime24, amc23, olympiadbench, minerva_math, livecodebench)", a.bench);
  MathEvalOptions o;
  o.bench = a.bench;
  o.predictions = a.predictions;
  o.data_file = a.data;
  o.data_dir = a.data_dir;
  o.out_dir = a.out;
  o.strict = a.strict;
  std::shared_ptr<Tokenizer> tokenizer;
  if (!a.tokenizer.empty()) {
    tokenizer = Tokenizer::load(a.tokenizer);
    o.count_tokens = [tokenizer](std::string_view text) { return tokenizer->encode(text).size(); };
  }
  o.reflection_keywords = default_reflection_keywords();
  o.count_keywords = [&keywords = o.reflection_keywords](std::string_view text) {
    std::vector<std::size_t> counts(keywords.size(), 0);
    for (const auto& match : find_keywords(text, keywords)) ++counts[match.keyword];
    return counts;
  };
  std::cout << math_eval_summary(run_math_eval(o));
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Grade predictions on a benchmark (math answers or LiveCodeBench code)");
  cmd->add_option("--bench", a->bench, "math500, aime24, amc23, olympiadbench, minerva_math or livecodebench")->required();
  cmd->add_option("--predictions", a->predictions, "JSONL: {\"idx\", \"response\"} or {\"idx\", \"responses\": [...]}")->required();
  cmd->add_option("--data-dir", a->data_dir, "benchmark root: DIR/NAME/test.jsonl (default $COTRAIN_DATA or ~/.cache/cotrain/benchmarks)");
  cmd->add_option("--data", a->data, "the benchmark file itself");
  cmd->add_option("--out", a->out, "directory for results.jsonl and report.json (written atomically)");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json or model dir, for the mean response length in tokens");
  cmd->add_flag("--strict", a->strict, "math: take answers only from \\boxed{}");
  cmd->add_option("--jobs", a->jobs, "livecodebench: programs judged in parallel")->capture_default_str();
  cmd->add_option("--timeout", a->timeout, "livecodebench: seconds per test")->capture_default_str();
  cmd->add_option("--release", a->release, "livecodebench: release version, e.g. v2");
  cmd->add_option("--since", a->since, "livecodebench: first contest date (YYYY-MM-DD)");
  cmd->add_option("--until", a->until, "livecodebench: last contest date (YYYY-MM-DD)");
  cmd->add_option("--python", a->python, "livecodebench: the interpreter that runs the programs")->capture_default_str();
  cmd->add_option("--difficulty", a->difficulties, "livecodebench: only these difficulties (easy,medium,hard)")->delimiter(',');
  cmd->add_option("--platform", a->platforms, "livecodebench: only these platforms (atcoder,codeforces,leetcode)")->delimiter(',');
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace cotrain::cli
