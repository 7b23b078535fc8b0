// cotrain report RUN... [--out FILE]: one self-contained HTML page of one or several runs (their
// curves on shared charts, timing, memory, config differences, benchmark tables).
#include <fmt/format.h>

#include <iostream>
#include <map>

#include "commands.h"
#include "cotrain/report/report_page.h"

namespace cotrain::cli {
namespace {

struct ReportArgs {
  std::vector<std::string> runs;
  std::string out, title, y_scale = "auto";
  double smooth = 0;
};

void run_report(const ReportArgs& a) {
  ReportOptions o;
  o.runs.assign(a.runs.begin(), a.runs.end());
  o.out = a.out;
  o.title = a.title;
  o.scale = a.y_scale == "log" ? YScale::Log : a.y_scale == "linear" ? YScale::Linear : YScale::Auto;
  o.smoothing = a.smooth;
  ReportSummary s = write_report(o);
  std::cout << fmt::format("wrote {}: {} run{}, {} charts, {} points, {} benchmark tables", s.out.string(), s.runs,
                           s.runs == 1 ? "" : "s", s.charts, s.points, s.eval_tables);
  if (!s.notes.empty()) std::cout << fmt::format(", {} note{} on the input (see the page)", s.notes.size(), s.notes.size() == 1 ? "" : "s");
  std::cout << "\n";
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand("report", "Render runs (metrics, config, timing, benchmarks) as one self-contained HTML page");
  cmd->add_option("runs", a->runs, "run directories (the --out of cotrain sft or lora); several are compared on shared charts")
      ->required();
  cmd->add_option("--out", a->out, "the HTML file (written atomically); default RUN/report.html for one run, required for several");
  cmd->add_option("--title", a->title, "page title (default: the runs' names)");
  cmd->add_option("--y-scale", a->y_scale, "auto (log where every value is > 0 and they span 100x or more), linear or log")
      ->check(CLI::IsMember({"auto", "linear", "log"}))
      ->capture_default_str();
  cmd->add_option("--smooth", a->smooth, "moving-average weight for training curves, in [0, 1) (0: off; raw values stay drawn)")
      ->capture_default_str();
  cmd->callback([a] { run_report(*a); });
}

}  // namespace cotrain::cli
