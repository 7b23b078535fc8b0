#include "cotrain/report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cotrain/report/axis.h"
#include "cotrain/report/html_text.h"

namespace cotrain {
namespace {

constexpr double kLeft = 64, kRight = 18, kTop = 34, kAxisBelow = 40, kLegendRow = 18;
constexpr std::size_t kVisibleTrainingMarkers = 120;  // beyond this the line shows the shape; markers stay for hover

struct Frame {
  Axis x, y;
  double left, top, width, height;
  double px(double step) const { return left + axis_fraction(x, step) * width; }
  double py(double value) const { return top + (1 - axis_fraction(y, value)) * height; }
};

// `extra`: presentation attributes (opacity, dashes).
std::string polyline(const MetricSeries& points, const Frame& f, const char* cls, const char* extra) {
  std::string out = fmt::format(R"(<polyline class="{}" fill="none" stroke-width="1.6"{} points=")", cls, extra);
  for (const MetricPoint& p : points) out += fmt::format("{:.1f},{:.1f} ", f.px(static_cast<double>(p.step)), f.py(p.value));
  if (!points.empty()) out.pop_back();
  return out + "\"/>";
}

struct LegendEntry {
  std::string label, color;
  bool dashed = false;
};

// Entries laid out left to right, wrapping; returns the SVG and sets `rows`.
std::string legend(const std::vector<LegendEntry>& entries, double top, double width, int& rows) {
  std::string out = R"(<g class="legend">)";
  double x = kLeft, y = top;
  rows = entries.empty() ? 0 : 1;
  for (const LegendEntry& e : entries) {
    double w = 30 + 6.5 * static_cast<double>(e.label.size()) + 18;
    if (x + w > width - kRight && x > kLeft) {
      x = kLeft;
      y += kLegendRow;
      ++rows;
    }
    out += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="2.5"{}/>)", x,
                       y - 4, x + 22, y - 4, e.color, e.dashed ? R"( stroke-dasharray="5 3")" : "");
    out += fmt::format(R"(<text x="{:.1f}" y="{:.1f}">{}</text>)", x + 28, y, html_escape(e.label));
    x += w;
  }
  return out + "</g>";
}

}  // namespace

bool uses_log_scale(const Chart& chart, YScale scale) {
  if (scale == YScale::Linear) return false;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const ChartSeries& s : chart.series)
    for (const MetricPoint& p : s.points) {
      lo = std::min(lo, p.value);
      hi = std::max(hi, p.value);
    }
  if (!(lo > 0) || !std::isfinite(hi)) return false;
  return scale == YScale::Log || hi >= 100 * lo;
}

MetricSeries smooth(const MetricSeries& points, double weight) {
  MetricSeries out;
  out.reserve(points.size());
  double average = 0, debias = 1;
  for (const MetricPoint& p : points) {
    average = weight * average + (1 - weight) * p.value;
    debias *= weight;
    out.push_back({p.step, average / (1 - debias)});
  }
  return out;
}

std::string render_chart_svg(const Chart& chart, const ChartStyle& style) {
  double step_hi = 1, lo = std::numeric_limits<double>::infinity(), hi = -lo;
  std::size_t points = 0;
  for (const ChartSeries& s : chart.series)
    for (const MetricPoint& p : s.points) {
      step_hi = std::max(step_hi, static_cast<double>(p.step));
      lo = std::min(lo, p.value);
      hi = std::max(hi, p.value);
      ++points;
    }
  if (!points) lo = 0, hi = 1;
  const bool log = uses_log_scale(chart, style.scale);
  const double width = style.width, plot_h = style.height - kTop - kAxisBelow;
  Frame f{linear_axis(0, step_hi, 6), log ? log_axis(lo, hi) : linear_axis(lo, hi, 5), kLeft, kTop,
          width - kLeft - kRight, plot_h};

  // Legend first: its height decides the SVG's.
  std::vector<LegendEntry> entries;
  bool has_train = false, has_val = false;
  for (const ChartSeries& s : chart.series) {
    (s.validation ? has_val : has_train) = true;
    bool seen = std::any_of(entries.begin(), entries.end(), [&](const LegendEntry& e) { return e.label == s.run; });
    if (!seen) entries.push_back({s.run, s.color});
  }
  if (has_train && has_val) {
    entries.push_back({"training", "#666"});
    entries.push_back({"validation", "#666", true});
  }
  int rows = 0;
  std::string legend_svg = legend(entries, kTop + plot_h + kAxisBelow + 16, width, rows);
  const double height = kTop + plot_h + kAxisBelow + rows * kLegendRow + 4;

  std::string svg = fmt::format(
      R"(<svg class="chart" data-metric="{}" data-points="{}" viewBox="0 0 {} {:.0f}" width="{}" height="{:.0f}" )"
      R"(font-family="sans-serif" font-size="11" role="img" aria-label="{}">)",
      html_escape(chart.metric), points, width, height, width, height, html_escape(chart.title));
  svg += fmt::format(R"(<text class="title" x="{}" y="20" font-size="14" font-weight="bold">{}</text>)", kLeft,
                     html_escape(chart.title));
  std::string scale_note = log ? "log scale"
                           : style.scale == YScale::Log && points ? "linear scale (values \u2264 0)"
                                                                  : "";
  if (!scale_note.empty())
    svg += fmt::format(R"(<text class="scale" x="{}" y="20" text-anchor="end" fill="#666">{}</text>)", width - kRight,
                       scale_note);

  // Grid and tick labels.
  svg += R"(<g class="axis y" stroke="#e3e3e3">)";
  for (double t : f.y.ticks) {
    double y = f.py(t);
    svg += fmt::format(R"(<line x1="{}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", kLeft, y, kLeft + f.width, y);
    svg += fmt::format(R"(<text x="{}" y="{:.1f}" text-anchor="end" stroke="none" fill="#444">{}</text>)", kLeft - 6,
                       y + 4, tick_label(t, f.y));
  }
  svg += R"(</g><g class="axis x" stroke="#e3e3e3">)";
  for (double t : f.x.ticks) {
    double x = f.px(t);
    svg += fmt::format(R"(<line x1="{:.1f}" y1="{}" x2="{:.1f}" y2="{:.1f}"/>)", x, kTop, x, kTop + plot_h);
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" stroke="none" fill="#444">{}</text>)", x,
                       kTop + plot_h + 16, tick_label(t, f.x));
  }
  svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" stroke="none" fill="#444">step</text></g>)",
                     kLeft + f.width / 2, kTop + plot_h + 32);
  svg += fmt::format(R"(<rect class="frame" x="{}" y="{}" width="{:.1f}" height="{:.1f}" fill="none" stroke="#999"/>)",
                     kLeft, kTop, f.width, plot_h);
  if (!points)
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" fill="#666">no data</text>)",
                       kLeft + f.width / 2, kTop + plot_h / 2);

  // Series: training lines under validation ones.
  for (bool validation : {false, true})
    for (const ChartSeries& s : chart.series) {
      if (s.validation != validation || s.points.empty()) continue;
      const char* role = validation ? "validation" : "training";
      svg += fmt::format(R"(<g class="series" data-run="{}" data-role="{}" data-points="{}" stroke="{}" fill="{}">)",
                         html_escape(s.run), role, s.points.size(), s.color, s.color);
      bool smoothed = !validation && style.smoothing > 0 && s.points.size() > 2;
      if (smoothed) {
        svg += polyline(s.points, f, "raw", R"( stroke-opacity="0.3")");
        svg += polyline(smooth(s.points, style.smoothing), f, "line", "");
      } else {
        svg += polyline(s.points, f, "line", validation ? R"( stroke-dasharray="6 4")" : "");
      }
      // Training markers beyond a few dozen would hide the line: then they are transparent, kept for hovering.
      bool visible = validation || s.points.size() <= kVisibleTrainingMarkers;
      svg += fmt::format(R"(<g class="points{}" stroke="none"{}>)", visible ? "" : " hover-only",
                         visible ? "" : R"( fill-opacity="0")");
      const std::string run = html_escape(s.run), metric = html_escape(chart.metric);
      const int radius = validation ? 3 : visible ? 2 : 3;
      for (const MetricPoint& p : s.points)
        svg += fmt::format(R"(<circle class="pt" cx="{:.1f}" cy="{:.1f}" r="{}" data-step="{}" data-value="{}">)"
                           R"(<title>{} · step {} · {} {}</title></circle>)",
                           f.px(static_cast<double>(p.step)), f.py(p.value), radius, p.step, p.value, run, p.step,
                           metric, readable_number(p.value));
      svg += "</g></g>";
    }
  svg += legend_svg;
  return svg + "</svg>";
}

}  // namespace cotrain
