// `cotrain report RUN... [--out FILE]`: one self-contained HTML page (inline SVG and CSS, no
// network, no JavaScript) with the runs' training and validation loss, learning rate, gradient
// norm and throughput against step (every run a series of each chart), what each run is (status,
// timing, memory), its configuration (for several runs: the keys that differ) and its benchmark
// results. See docs/report.md.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "cotrain/report/run_data.h"
#include "cotrain/report/svg_chart.h"

namespace cotrain {

struct ReportOptions {
  std::vector<std::filesystem::path> runs;
  std::filesystem::path out;  // empty: RUN/report.html for one run (required for several)
  std::string title;          // empty: "cotrain report: " and the runs' names
  YScale scale = YScale::Auto;
  double smoothing = 0;  // training series' moving-average weight in [0, 1); raw values stay drawn
};

struct ReportSummary {
  std::filesystem::path out;
  std::size_t runs = 0, charts = 0, points = 0, eval_tables = 0;
  std::vector<std::string> notes;  // what was absent, ignored or superseded, over all runs
};

// The page for runs already read; fills `summary` (all but `out`).
std::string render_report_html(const std::vector<RunData>& runs, const ReportOptions& options, ReportSummary& summary);

// Checks the options, reads the runs, logs each note as a warning, writes the page atomically and
// returns what it holds. Throws InputError for bad options or a bad run directory.
ReportSummary write_report(const ReportOptions& options);

}  // namespace cotrain
