#include "cotrain/report/svg_chart.h"

#include <gtest/gtest.h>

#include <regex>

#include "unit/report/run_fixture.h"

namespace cotrain {
namespace {

using test::count_of;

MetricSeries ramp(int n, double start, double factor) {
  MetricSeries s;
  double v = start;
  for (int i = 1; i <= n; ++i, v *= factor) s.push_back({i, v});
  return s;
}

TEST(SvgChart, OneMarkerPerPointCarryingItsData) {
  Chart chart{"loss", "Loss", {{"run-a", "#0072B2", false, ramp(37, 2.0, 0.98)},
                               {"run-a", "#0072B2", true, {{10, 1.9}, {20, 1.5}, {30, 1.25}}},
                               {"run-b", "#D55E00", false, ramp(12, 2.5, 0.97)}}};
  std::string svg = render_chart_svg(chart, {});
  EXPECT_EQ(count_of(svg, "<circle class=\"pt\""), 37u + 3 + 12);
  EXPECT_EQ(count_of(svg, "<g class=\"series\""), 3u);
  EXPECT_NE(svg.find(R"(data-run="run-a" data-role="validation" data-points="3")"), std::string::npos);
  EXPECT_NE(svg.find(R"(data-step="20" data-value="1.5")"), std::string::npos);
  EXPECT_NE(svg.find("<title>run-a · step 30 · loss 1.25</title>"), std::string::npos);
  EXPECT_NE(svg.find(R"(<svg class="chart" data-metric="loss" data-points="52")"), std::string::npos);
  // The legend names each run once, and the line styles because both roles are drawn.
  EXPECT_EQ(count_of(svg, ">run-a</text>"), 1u);
  EXPECT_EQ(count_of(svg, ">run-b</text>"), 1u);
  EXPECT_EQ(count_of(svg, ">validation</text>"), 1u);
}

TEST(SvgChart, MarkersLieInsideThePlotFrame) {
  Chart chart{"grad_norm", "Gradient norm", {{"r", "#000", false, ramp(50, 0.5, 1.07)}}};
  ChartStyle style;
  std::string svg = render_chart_svg(chart, style);
  std::regex circle(R"re(cx="([0-9.]+)" cy="([0-9.]+)")re");
  int n = 0;
  for (std::sregex_iterator it(svg.begin(), svg.end(), circle), end; it != end; ++it, ++n) {
    double x = std::stod((*it)[1]), y = std::stod((*it)[2]);
    EXPECT_GE(x, 64 - 0.05);
    EXPECT_LE(x, style.width - 18 + 0.05);
    EXPECT_GE(y, 34 - 0.05);
    EXPECT_LE(y, style.height - 40 + 0.05);
  }
  EXPECT_EQ(n, 50);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(SvgChart, LogScaleWhereValuesSpanDecades) {
  Chart wide{"loss", "Loss", {{"r", "#000", false, ramp(100, 10.0, 0.93)}}};  // 10 down to ~0.0008
  Chart narrow{"loss", "Loss", {{"r", "#000", false, ramp(100, 2.0, 0.99)}}};
  Chart with_zero{"lr", "lr", {{"r", "#000", false, {{1, 0.0}, {2, 1e-5}, {3, 1e-7}}}}};
  EXPECT_TRUE(uses_log_scale(wide, YScale::Auto));
  EXPECT_FALSE(uses_log_scale(wide, YScale::Linear));
  EXPECT_FALSE(uses_log_scale(narrow, YScale::Auto));
  EXPECT_TRUE(uses_log_scale(narrow, YScale::Log));
  EXPECT_FALSE(uses_log_scale(with_zero, YScale::Log));
  EXPECT_NE(render_chart_svg(wide, {}).find(">log scale</text>"), std::string::npos);
  ChartStyle log;
  log.scale = YScale::Log;
  EXPECT_NE(render_chart_svg(with_zero, log).find("linear scale (values \u2264 0)"), std::string::npos);
  // Decade ticks on the log axis.
  std::string svg = render_chart_svg(wide, {});
  for (const char* label : {">0.001</text>", ">0.01</text>", ">0.1</text>", ">1</text>", ">10</text>"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
}

TEST(SvgChart, UserTextIsEscaped) {
  Chart chart{"loss", "Loss <&>", {{"<script>alert(\"x\")</script>'", "#000", false, ramp(3, 1, 0.5)}}};
  std::string svg = render_chart_svg(chart, {});
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;"), std::string::npos);
  EXPECT_NE(svg.find("Loss &lt;&amp;&gt;"), std::string::npos);
}

TEST(SvgChart, SmoothingKeepsTheRawValuesAndTheMarkers) {
  Chart chart{"loss", "Loss", {{"r", "#000", false, ramp(200, 2, 0.99)}}};
  ChartStyle style;
  style.smoothing = 0.9;
  std::string svg = render_chart_svg(chart, style);
  EXPECT_EQ(count_of(svg, "<polyline class=\"raw\""), 1u);
  EXPECT_EQ(count_of(svg, "<polyline class=\"line\""), 1u);
  EXPECT_EQ(count_of(svg, "<circle class=\"pt\""), 200u);
  EXPECT_NE(svg.find("class=\"points hover-only\""), std::string::npos);  // 200 > the visible-marker limit
  EXPECT_EQ(count_of(render_chart_svg(chart, {}), "<polyline"), 1u);
}

TEST(Smooth, DebiasedMovingAverage) {
  MetricSeries s = smooth({{1, 4}, {2, 0}, {3, 8}}, 0.5);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_DOUBLE_EQ(s[0].value, 4);                          // the first value as it is
  EXPECT_DOUBLE_EQ(s[1].value, (0.5 * 2 + 0) / 0.75);       // (w(1-w)x1 + (1-w)x2) / (1 - w^2)
  EXPECT_DOUBLE_EQ(s[2].value, (0.5 * (0.5 * 2 + 0) + 4) / 0.875);
  EXPECT_EQ(s[2].step, 3);
}

TEST(SvgChart, EmptyChartSaysSo) {
  std::string svg = render_chart_svg({"loss", "Loss", {}}, {});
  EXPECT_NE(svg.find(">no data</text>"), std::string::npos);
  EXPECT_EQ(count_of(svg, "class=\"pt\""), 0u);
}

}  // namespace
}  // namespace cotrain
