// One chart of the report as inline SVG: a metric against step, one series per run (and role),
// with axes, a legend and one marker per data point. Markers carry their data
// (`<circle class="pt" data-step="S" data-value="V">` with a <title> that browsers show on hover),
// so the page needs no JavaScript and a test can count them.
#pragma once
#include <string>
#include <vector>

#include "cotrain/report/run_data.h"

namespace cotrain {

enum class YScale { Auto, Linear, Log };

struct ChartSeries {
  std::string run;    // legend label
  std::string color;  // CSS colour of the run
  bool validation = false;  // validation: dashed line, every marker drawn; training: solid line
  MetricSeries points;
};

struct Chart {
  std::string metric;  // e.g. "loss"; the SVG's data-metric
  std::string title;   // "Loss"
  std::vector<ChartSeries> series;
};

struct ChartStyle {
  YScale scale = YScale::Auto;
  double smoothing = 0;  // exponential moving average weight for training series, in [0, 1)
  int width = 640, height = 300;
};

// Auto uses a log scale when every value is > 0 and the largest is at least 100 times the
// smallest; Log falls back to linear (and says so in the chart) when a value is <= 0.
bool uses_log_scale(const Chart& chart, YScale scale);

// Debiased exponential moving average (TensorBoard's smoothing): s_i = w s_{i-1} + (1 - w) x_i,
// divided by 1 - w^(i+1).
MetricSeries smooth(const MetricSeries& points, double weight);

std::string render_chart_svg(const Chart& chart, const ChartStyle& style);

}  // namespace cotrain
