#include "cotrain/report/report_page.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/version.h"
#include "cotrain/report/html_text.h"
#include "cotrain/report/tables.h"

namespace cotrain {
namespace {

// Okabe and Ito's colour-blind-safe palette (yellow left out: too light on white).
const std::vector<std::string> kPalette = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};

struct ChartMetric {
  const char* metric;
  const char* title;
  const char* train_key;  // field of the training lines, or nullptr
  const char* val_key;    // field of the validation lines, or nullptr
};

// The charts, in page order; one is drawn when some run has its data.
const ChartMetric kCharts[] = {
    {"loss", "Loss (training and validation)", "loss", "val_loss"},
    {"lr", "Learning rate", "lr", nullptr},
    {"grad_norm", "Gradient norm (before clipping)", "grad_norm", nullptr},
    {"tokens_per_s", "Throughput (tokens/s)", "tokens_per_s", nullptr},
    {"mem_mib", "Memory (MiB)", "mem_mib", nullptr},
    {"peak_rss_mib", "Peak resident memory (MiB)", "peak_rss_mib", nullptr},
    {"peak_device_memory_mib", "Peak device memory (MiB)", "peak_device_memory_mib", nullptr},
};

const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
       margin: 24px auto; max-width: 1360px; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin-bottom: 6px; }
.muted, .meta { color: #666; } .meta { margin-top: 0; }
.notes { background: #fff7e0; border: 1px solid #f0d58c; padding: 8px 14px; border-radius: 4px; }
.notes li { font-family: ui-monospace, monospace; font-size: 12.5px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 12px 24px; }
svg.chart { width: 100%; height: auto; background: #fff; }
svg.chart .pt:hover { fill-opacity: 1; stroke: #222; stroke-width: 1; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { border: 1px solid #ddd; padding: 3px 10px; text-align: left; vertical-align: top; }
thead th { background: #f4f4f4; } tbody th { font-weight: normal; color: #444; background: #fafafa; }
td { font-variant-numeric: tabular-nums; max-width: 560px; overflow-wrap: anywhere; }
td.best { font-weight: bold; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
details { margin: 6px 0; } summary { cursor: pointer; color: #0550ae; }
)";

std::string now_utc() {
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC",
                     std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
}

}  // namespace

std::string render_report_html(const std::vector<RunData>& runs, const ReportOptions& o, ReportSummary& summary) {
  std::vector<std::string> colors;
  std::string names;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    colors.push_back(kPalette[i % kPalette.size()]);
    names += (i ? ", " : "") + runs[i].label;
    summary.notes.insert(summary.notes.end(), runs[i].notes.begin(), runs[i].notes.end());
  }
  summary.runs = runs.size();
  const std::string title = o.title.empty() ? "cotrain report: " + names : o.title;

  std::string charts;
  ChartStyle style;
  style.scale = o.scale;
  style.smoothing = o.smoothing;
  for (const ChartMetric& m : kCharts) {
    Chart chart{m.metric, m.title, {}};
    for (std::size_t i = 0; i < runs.size(); ++i) {
      auto add = [&](const std::map<std::string, MetricSeries>& from, const char* key, bool validation) {
        if (!key) return;
        auto it = from.find(key);
        if (it != from.end() && !it->second.empty()) chart.series.push_back({runs[i].label, colors[i], validation, it->second});
      };
      add(runs[i].train, m.train_key, false);
      add(runs[i].val, m.val_key, true);
    }
    if (chart.series.empty()) continue;
    for (const ChartSeries& s : chart.series) summary.points += s.points.size();
    ++summary.charts;
    charts += render_chart_svg(chart, style);
  }

  std::string page = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  page += fmt::format("<title>{}</title><style>{}</style></head><body>", html_escape(title), kStyle);
  page += fmt::format("<h1>{}</h1>", html_escape(title));
  page += fmt::format(R"(<p class="meta">{} run{} · generated {} by cotrain {})", runs.size(), runs.size() == 1 ? "" : "s",
                      now_utc(), version());
  if (o.smoothing > 0)
    page += fmt::format(" · training curves smoothed (moving average, weight {}; faint: raw)", o.smoothing);
  page += "</p>";
  if (!summary.notes.empty()) {
    page += fmt::format(R"(<div class="notes" id="notes"><strong>{} note{} on the input</strong><ul>)", summary.notes.size(),
                        summary.notes.size() == 1 ? "" : "s");
    for (const std::string& note : summary.notes) page += "<li>" + html_escape(note) + "</li>";
    page += "</ul></div>";
  }
  page += "<h2>Runs</h2>" + runs_table_html(runs, colors);
  page += "<h2>Training curves</h2>";
  page += charts.empty() ? "<p class=\"muted\">No metrics yet.</p>" : "<div class=\"charts\">" + charts + "</div>";
  std::string evals = eval_section_html(runs, colors, summary.eval_tables);
  if (!evals.empty()) page += "<h2>Benchmarks</h2>" + evals;
  page += std::string("<h2>") + (runs.size() > 1 ? "Configuration differences" : "Configuration") + "</h2>";
  page += config_section_html(runs, colors);
  return page + "</body></html>\n";
}

ReportSummary write_report(const ReportOptions& o) {
  if (o.runs.empty()) fail_input("no run directory given");
  if (!(o.smoothing >= 0 && o.smoothing < 1)) fail_input("--smooth: must be in [0, 1) (got {})", o.smoothing);
  std::filesystem::path out = o.out;
  if (out.empty()) {
    if (o.runs.size() > 1) fail_input("--out: required when comparing several runs");
    out = o.runs[0] / "report.html";
  }
  std::vector<RunData> runs = read_runs(o.runs);
  ReportSummary summary;
  std::string page = render_report_html(runs, o, summary);
  for (const std::string& note : summary.notes) spdlog::warn("{}", note);
  AtomicFile file(out);
  file.stream() << page;
  file.commit();
  summary.out = out;
  return summary;
}

}  // namespace cotrain
