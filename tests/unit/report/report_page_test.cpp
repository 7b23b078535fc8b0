#include "cotrain/report/report_page.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "unit/report/run_fixture.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;
using test::count_of;
using test::write_text;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ReportOptions options(std::vector<fs::path> runs, fs::path out = {}) {
  ReportOptions o;
  o.runs = std::move(runs);
  o.out = std::move(out);
  return o;
}

// The text of the chart whose data-metric is `metric`, or "".
std::string chart_of(const std::string& html, const std::string& metric) {
  auto begin = html.find("<svg class=\"chart\" data-metric=\"" + metric + "\"");
  if (begin == std::string::npos) return "";
  return html.substr(begin, html.find("</svg>", begin) - begin);
}

TEST(ReportPage, OneRunPointsPerChartEqualMetricLines) {
  fs::path dir = test::scratch_dir() / "run";
  test::write_fake_run(dir, {.steps = 240, .val_every = 40});
  ReportSummary s = write_report(options({dir}));
  EXPECT_EQ(s.out, dir / "report.html");
  std::string html = slurp(dir / "report.html");
  EXPECT_EQ(count_of(chart_of(html, "loss"), "class=\"pt\""), 240u + 6);
  for (const char* metric : {"lr", "grad_norm", "tokens_per_s"})
    EXPECT_EQ(count_of(chart_of(html, metric), "class=\"pt\""), 240u) << metric;
  EXPECT_EQ(chart_of(html, "mem_mib"), "");  // no such field in the lines: no chart
  EXPECT_EQ(s.charts, 4u);
  EXPECT_EQ(s.points, 240u * 4 + 6);
  EXPECT_EQ(count_of(html, "class=\"pt\""), s.points);
  // Self-contained: no scripts, nothing fetched.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);
  // Timing and memory from run.json, the config in full.
  EXPECT_NE(html.find("<th>elapsed</th><td>2m 40s</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>peak RSS</th><td>2.0 GiB</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>train.schedule</th><td>cosine</td>"), std::string::npos);
  EXPECT_NE(html.find("<th>steps</th><td>240 of 240</td>"), std::string::npos);
  EXPECT_EQ(html.find("id=\"notes\""), std::string::npos);
}

TEST(ReportPage, SeveralRunsShareChartsAndShowTheKeysThatDiffer) {
  fs::path root = test::scratch_dir();
  test::write_fake_run(root / "lr-1e-5", {.steps = 150, .val_every = 50, .lr = 1e-5, .seed = 1});
  test::write_fake_run(root / "lr-1e-4", {.steps = 90, .val_every = 30, .lr = 1e-4, .seed = 2});
  test::write_fake_run(root / "lr-3e-5", {.steps = 120, .val_every = 40, .lr = 3e-5, .seed = 3});
  ReportOptions o = options({root / "lr-1e-5", root / "lr-1e-4", root / "lr-3e-5"}, root / "compare.html");
  ReportSummary s = write_report(o);
  EXPECT_EQ(s.runs, 3u);
  std::string html = slurp(root / "compare.html");
  std::string loss = chart_of(html, "loss");
  EXPECT_EQ(count_of(loss, "<g class=\"series\""), 6u);  // training and validation of each run
  EXPECT_EQ(count_of(loss, "class=\"pt\""), 150u + 3 + 90 + 3 + 120 + 3);
  EXPECT_EQ(count_of(chart_of(html, "lr"), "data-run=\"lr-1e-4\""), 1u);
  // Distinct colours, one per run.
  EXPECT_NE(loss.find(R"(data-run="lr-1e-5" data-role="training" data-points="150" stroke="#0072B2")"), std::string::npos);
  EXPECT_NE(loss.find(R"(data-run="lr-1e-4" data-role="training" data-points="90" stroke="#D55E00")"), std::string::npos);
  // Config differences: train.lr and output.dir differ; model.* and train.schedule do not.
  auto diff_begin = html.find("<table class=\"config diff\">");
  ASSERT_NE(diff_begin, std::string::npos);
  diff_begin = html.find("<tbody>", diff_begin);
  std::string diff = html.substr(diff_begin, html.find("</table>", diff_begin) - diff_begin);
  EXPECT_EQ(count_of(diff, "<tr><th>"), 2u) << diff;
  EXPECT_NE(diff.find("<tr><th>train.lr</th><td>1e-05</td><td>0.0001</td><td>3e-05</td></tr>"), std::string::npos) << diff;
  EXPECT_EQ(diff.find("train.schedule"), std::string::npos);
  EXPECT_NE(html.find("2 keys differ between the runs"), std::string::npos);
  // Several runs need --out.
  try {
    write_report(options(o.runs));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--out: required when comparing several runs");
  }
}

TEST(ReportPage, TornLineIsNamedInThePage) {
  fs::path dir = test::scratch_dir() / "run";
  test::write_fake_run(dir, {.steps = 30, .val_every = 10});
  write_text(dir / "metrics.jsonl", test::fake_metrics({.steps = 30, .val_every = 10}) + "{\"step\": 31, \"loss\": 0.");
  ReportSummary s = write_report(options({dir}));
  std::string html = slurp(dir / "report.html");
  EXPECT_EQ(count_of(chart_of(html, "loss"), "class=\"pt\""), 33u);
  ASSERT_EQ(s.notes.size(), 1u);
  EXPECT_NE(html.find("<strong>1 note on the input</strong>"), std::string::npos);
  EXPECT_NE(html.find("metrics.jsonl:34: torn last line ignored"), std::string::npos);
  EXPECT_NE(html.find("torn line 34 ignored"), std::string::npos);  // and in the runs table
}

TEST(ReportPage, ConfigValuesAndNamesAreEscaped) {
  fs::path dir = test::scratch_dir() / "a<b>&\"c\"";
  test::write_fake_run(dir, {.steps = 3, .val_every = 3});
  write_text(dir / "config.json", R"({"data": {"system": "</td></table><script>alert('x')</script>"}})");
  write_report(options({dir}, dir.parent_path() / "r.html"));
  std::string html = slurp(dir.parent_path() / "r.html");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;/td&gt;&lt;/table&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("a&lt;b&gt;&amp;&quot;c&quot;"), std::string::npos);
  EXPECT_EQ(html.find("a<b>"), std::string::npos);
}

TEST(ReportPage, BenchmarkTablesFromEvalReports) {
  fs::path root = test::scratch_dir();
  for (const char* name : {"base", "lora"}) test::write_fake_run(root / name, {.steps = 10, .val_every = 5});
  // The fields cotrain eval writes (math and LiveCodeBench reports).
  write_text(root / "base" / "eval" / "math500" / "report.json", R"({"bench": "math500", "problems": 500, "samples": 500,
    "accuracy": 0.412, "pass_at_k": {"1": 0.412}, "by_level": {"level 1": {"problems": 43, "accuracy": 0.8}},
    "by_subject": {}, "missing": 0, "strict": false, "data": "<b>math500/test.jsonl"})");
  write_text(root / "lora" / "eval" / "math500" / "report.json", R"({"bench": "math500", "problems": 500, "samples": 500,
    "accuracy": 0.5, "pass_at_k": {"1": 0.5}, "by_level": {"level 1": {"problems": 43, "accuracy": 0.9}}, "missing": 0})");
  write_text(root / "lora" / "eval" / "livecodebench" / "report.json", R"({"bench": "livecodebench", "problems": 3,
    "samples": 6, "pass@1": 0.25, "pass@2": 0.5, "verdicts": {"passed": 2, "wrong answer": 4},
    "by_difficulty": {"easy": {"pass@1": 0.5, "problems": 1}}})");
  ReportSummary s = write_report(options({root / "base", root / "lora"}, root / "r.html"));
  EXPECT_EQ(s.eval_tables, 2u);
  std::string html = slurp(root / "r.html");
  EXPECT_NE(html.find("<h3 data-bench=\"math500\">"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>accuracy</th><td>41.2%</td><td class=\"best\">50.0%</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>level: level 1</th><td>80.0% <small>(43)</small></td>"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>pass@2</th><td></td><td>50.0%</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>verdict: wrong answer</th><td></td><td>4</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>difficulty: easy</th>"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>data</th><td>&lt;b&gt;math500/test.jsonl</td>"), std::string::npos);
}

TEST(ReportPage, BadOptions) {
  fs::path dir = test::scratch_dir() / "run";
  test::write_fake_run(dir, {.steps = 3, .val_every = 3});
  EXPECT_THROW(write_report(options({})), InputError);
  ReportOptions smooth = options({dir});
  smooth.smoothing = 1.0;
  EXPECT_THROW(write_report(smooth), InputError);
  EXPECT_THROW(write_report(options({dir / "nope"})), InputError);
  EXPECT_FALSE(fs::exists(dir / "report.html"));
}

TEST(ReportPage, WrittenAtomically) {
  fs::path dir = test::scratch_dir() / "run";
  test::write_fake_run(dir, {.steps = 3, .val_every = 3});
  write_report(options({dir}));
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

}  // namespace
}  // namespace cotrain
