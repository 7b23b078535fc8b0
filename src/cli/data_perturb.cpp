// cotrain data perturb: the paper's seeded trace perturbations.
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "cotrain/core/atomic_file.h"
#include "cotrain/data/perturb.h"
#include "data_commands.h"

namespace cotrain::cli {
namespace {

struct PerturbArgs {
  std::string mode, in, out, format = "auto";
  double ratio = 1.0;
  std::uint64_t seed = 0;
  std::vector<std::string> keywords;
};

void run_perturb(const PerturbArgs& args) {
  PerturbOptions options;
  options.mode = perturb_mode_from_name(args.mode);
  options.ratio = args.ratio;
  options.seed = args.seed;
  if (!args.keywords.empty()) options.keywords = args.keywords;
  std::vector<TraceRecord> records;
  for_each_trace(args.in, trace_format_from_name(args.format),
                       [&](TraceRecord& record) { records.push_back(std::move(record)); });
  PerturbReport report = perturb_records(records, options);

  OutputSink sink(args.out);
  for (const auto& record : records) {
    sink.stream() << record.json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
  sink.commit();
  spdlog::info("perturb {} (ratio {}, seed {}): changed {} of {} responses in {} records", args.mode, args.ratio,
               args.seed, report.changed, report.responses, report.records);
  if (report.without_thought > 0) spdlog::warn("{} responses have no thought section and were left as they are", report.without_thought);
  if (report.without_answer > 0) spdlog::warn("{} responses have no \\boxed{{}} answer in the solution and were left as they are", report.without_answer);
}

}  // namespace

void add_data_perturb_command(CLI::App& data) {
  auto args = std::make_shared<PerturbArgs>();
  CLI::App* cmd = data.add_subcommand("perturb", "Apply one of the paper's perturbations to a trace file, seeded");
  cmd->add_option("--mode", args->mode, fmt::format("perturbation: {}", fmt::join(perturb_mode_names(), ", ")))->required();
  cmd->add_option("--ratio", args->ratio, "probability (content modes) or fraction of each trace's steps, in [0, 1]")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "random seed: the same seed gives the same bytes")->capture_default_str();
  cmd->add_option("--in", args->in, "trace file (JSONL or a JSON array)")->required();
  cmd->add_option("--out", args->out, "output JSONL (- for stdout)")->required();
  cmd->add_option("--format", args->format, fmt::format("trace format: {}", fmt::join(trace_format_names(), ", ")))->capture_default_str();
  cmd->add_option("--keywords", args->keywords, "remove-keywords: the words to remove (default: the reflection list)")
      ->delimiter(',');
  cmd->callback([args] { run_perturb(*args); });
}

}  // namespace cotrain::cli
