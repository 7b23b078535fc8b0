// cotrain data filter: keep the traces whose final answer is right (Sky-T1's rejection sampling).
#include <fmt/format.h>

#include <iostream>

#include "cotrain/data/filter.h"
#include "data_commands.h"

namespace cotrain::cli {
namespace {

struct FilterArgs {
  FilterOptions options;
  std::string format = "auto";
};

void run(FilterArgs& a) {
  a.options.format = trace_format_from_name(a.format);
  FilterResult r = filter_traces(a.options);
  std::cout << fmt::format("kept {} of {} traces ({} rejected) -> {}\n", r.kept, r.kept + r.rejected, r.rejected, a.options.out.string());
  for (const auto& [reason, count] : r.reasons) std::cout << fmt::format("  rejected: {:<24} {}\n", reason, count);
  std::cout << fmt::format("rejects: {}\nsummary: {}\n", r.rejects.string(), r.summary.string());
}

}  // namespace

void add_data_filter_command(CLI::App& data) {
  auto a = std::make_shared<FilterArgs>();
  auto* cmd = data.add_subcommand("filter", "Keep traces whose final answer is right (math) or whose code passes the tests (code)");
  cmd->add_option("--traces", a->options.traces, "traces (JSONL: sharegpt, openai or prompt/response records)")->required();
  cmd->add_option("--out", a->options.out, "kept traces, as they were read")->required();
  cmd->add_option("--rejects", a->options.rejects, "rejected traces with the reason (default: OUT with .rejects.jsonl)");
  cmd->add_option("--gold-field", a->options.gold_field, "math: the record's field holding the gold answer");
  cmd->add_option("--bench-data", a->options.bench_data,
                  "problems the traces answer: math JSONL (problem/question + answer) or LiveCodeBench JSONL (code)");
  cmd->add_option("--format", a->format, "auto, sharegpt, openai or prompt-response")->capture_default_str();
  cmd->add_flag("--strict", a->options.strict, "math: take answers only from \\boxed{}");
  cmd->add_option("--jobs", a->options.jobs, "code: programs judged in parallel")->capture_default_str();
  cmd->add_option("--timeout", a->options.timeout_s, "code: seconds per test")->capture_default_str();
  cmd->add_option("--python", a->options.python, "code: the interpreter that runs the programs")->capture_default_str();
  cmd->callback([a] { run(*a); });
}

}  // namespace cotrain::cli
