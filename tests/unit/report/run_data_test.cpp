#include "cotrain/report/run_data.h"

#include <gtest/gtest.h>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "unit/report/run_fixture.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;
using test::write_text;

std::string input_error(const fs::path& dir) {
  try {
    read_run(dir);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

bool has_note(const RunData& run, const std::string& part) {
  for (const std::string& note : run.notes)
    if (note.find(part) != std::string::npos) return true;
  return false;
}

TEST(ReadRun, EveryLineBecomesAPointOfItsSeries) {
  fs::path dir = test::scratch_dir() / "run";
  test::write_fake_run(dir, {.steps = 300, .val_every = 25});
  RunData run = read_run(dir);
  EXPECT_EQ(run.label, "run");
  EXPECT_EQ(run.train_lines, 300u);
  EXPECT_EQ(run.val_lines, 12u);
  for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s", "epoch", "elapsed_s", "tokens"})
    EXPECT_EQ(run.train.at(key).size(), 300u) << key;
  EXPECT_EQ(run.val.at("val_loss").size(), 12u);
  EXPECT_EQ(run.val.at("val_loss")[1].step, 50);
  EXPECT_EQ(run.train.at("loss").front().step, 1);
  EXPECT_EQ(run.info["status"], "completed");
  EXPECT_EQ(run.config["train"]["schedule"], "cosine");
  EXPECT_FALSE(run.torn_line);
  EXPECT_TRUE(run.notes.empty());
}

TEST(ReadRun, TornLastLineIsIgnoredAndNamed) {
  fs::path dir = test::scratch_dir() / "run";
  test::write_fake_run(dir, {.steps = 20, .val_every = 10});
  std::string metrics = test::fake_metrics({.steps = 20, .val_every = 10});
  write_text(dir / "metrics.jsonl", metrics + R"({"step": 21, "epoch": 3.1, "loss": 0.4)");  // killed mid-write
  RunData run = read_run(dir);
  EXPECT_EQ(run.train_lines, 20u);
  EXPECT_EQ(run.train.at("loss").size(), 20u);
  ASSERT_TRUE(run.torn_line);
  EXPECT_EQ(*run.torn_line, 23u);  // 20 training + 2 validation lines before it
  EXPECT_TRUE(has_note(run, "metrics.jsonl:23: torn last line ignored")) << run.notes.at(0);
  // Trailing blank lines do not hide that it is the last one.
  write_text(dir / "metrics.jsonl", metrics + "{\"step\": 21, \"lo\n\n");
  EXPECT_EQ(*read_run(dir).torn_line, 23u);
}

TEST(ReadRun, BadLineInTheMiddleIsAnError) {
  fs::path dir = test::scratch_dir() / "run";
  write_text(dir / "metrics.jsonl", "{\"step\": 1, \"loss\": 2}\n{\"step\": 2, \"lo\n{\"step\": 3, \"loss\": 1}\n");
  EXPECT_NE(input_error(dir).find("metrics.jsonl:2: bad JSON"), std::string::npos) << input_error(dir);
  write_text(dir / "metrics.jsonl", "{\"step\": 1, \"loss\": 2}\n{\"loss\": 1}\n");
  EXPECT_NE(input_error(dir).find("metrics.jsonl:2: field \"step\" is missing"), std::string::npos);
  write_text(dir / "metrics.jsonl", "[1, 2]\n{\"step\": 1, \"loss\": 2}\n");
  EXPECT_NE(input_error(dir).find("metrics.jsonl:1: expected a JSON object"), std::string::npos);
}

TEST(ReadRun, NotARunDirectoryOrBadJson) {
  fs::path root = test::scratch_dir();
  EXPECT_NE(input_error(root / "absent").find("not a directory"), std::string::npos);
  fs::create_directories(root / "empty");
  EXPECT_NE(input_error(root / "empty").find("not a run directory"), std::string::npos);
  write_text(root / "bad" / "config.json", "{\"train\": ");
  EXPECT_NE(input_error(root / "bad").find((root / "bad" / "config.json").string() + ": bad JSON"), std::string::npos);
  write_text(root / "list" / "run.json", "[]");
  EXPECT_NE(input_error(root / "list").find("run.json: expected a JSON object"), std::string::npos);
  test::write_fake_run(root / "eval", {.steps = 5, .val_every = 5});
  write_text(root / "eval" / "eval" / "math500" / "report.json", "{\"accuracy\": 0.5,");
  EXPECT_NE(input_error(root / "eval").find("math500/report.json"), std::string::npos);
}

TEST(ReadRun, AbsentFilesAreNotedNotFatal) {
  fs::path dir = test::scratch_dir() / "starting";
  write_text(dir / "config.json", R"({"train": {"lr": 0.0001}})");
  RunData run = read_run(dir);
  EXPECT_TRUE(run.train.empty());
  EXPECT_TRUE(run.info.is_null());
  EXPECT_TRUE(has_note(run, "run.json: absent"));
  EXPECT_TRUE(has_note(run, "metrics.jsonl: absent"));
}

TEST(ReadRun, AResumedRunSupersedesTheStepsItLogsAgain) {
  fs::path dir = test::scratch_dir() / "run";
  // Steps 1-4 and a validation at 4, then killed; resumed from the checkpoint at step 2.
  write_text(dir / "metrics.jsonl",
             "{\"step\": 1, \"loss\": 5}\n{\"step\": 2, \"loss\": 4}\n{\"step\": 2, \"val_loss\": 4.5}\n"
             "{\"step\": 3, \"loss\": 3}\n{\"step\": 4, \"loss\": 2}\n{\"step\": 4, \"val_loss\": 2.5}\n"
             "{\"step\": 3, \"loss\": 3.1}\n{\"step\": 4, \"loss\": 2.1}\n{\"step\": 5, \"loss\": 1.9}\n");
  RunData run = read_run(dir);
  const MetricSeries& loss = run.train.at("loss");
  ASSERT_EQ(loss.size(), 5u);
  EXPECT_EQ(loss[2].step, 3);
  EXPECT_EQ(loss[2].value, 3.1);
  EXPECT_EQ(loss[3].value, 2.1);
  ASSERT_EQ(run.val.at("val_loss").size(), 1u);  // the one at step 4 came from the abandoned attempt
  EXPECT_EQ(run.superseded_lines, 3u);
  EXPECT_TRUE(has_note(run, "3 lines superseded by a resumed run"));
}

TEST(ReadRun, NullValuesAndOtherLinesAreCounted) {
  fs::path dir = test::scratch_dir() / "run";
  write_text(dir / "metrics.jsonl",
             "{\"step\": 1, \"loss\": 5, \"grad_norm\": null}\n{\"step\": 2, \"loss\": null, \"grad_norm\": null}\n"
             "{\"step\": 2, \"event\": \"checkpoint\"}\n");
  RunData run = read_run(dir);
  EXPECT_EQ(run.train.at("loss").size(), 1u);
  EXPECT_EQ(run.train.count("grad_norm"), 0u);
  EXPECT_TRUE(has_note(run, "2 null values of \"grad_norm\""));
  EXPECT_TRUE(has_note(run, "1 null values of \"loss\""));
  EXPECT_TRUE(has_note(run, "1 lines with neither"));
}

TEST(ReadRuns, EvalReportsAndUniqueLabels) {
  fs::path root = test::scratch_dir();
  test::write_fake_run(root / "a" / "run", {.steps = 5, .val_every = 5});
  test::write_fake_run(root / "b" / "run", {.steps = 5, .val_every = 5});
  write_text(root / "a" / "run" / "eval" / "aime24" / "report.json", R"({"bench": "aime24", "accuracy": 0.3})");
  fs::create_directories(root / "a" / "run" / "eval" / "unfinished");
  std::vector<RunData> runs = read_runs({root / "a" / "run", root / "b" / "run"});
  EXPECT_EQ(runs[0].label, (root / "a" / "run").string());
  EXPECT_EQ(runs[1].label, (root / "b" / "run").string());
  ASSERT_EQ(runs[0].evals.size(), 1u);
  EXPECT_EQ(runs[0].evals.at("aime24")["accuracy"], 0.3);
  EXPECT_TRUE(has_note(runs[0], "unfinished: no report.json"));
  EXPECT_EQ(read_runs({root / "a" / "run"})[0].label, "run");
}

}  // namespace
}  // namespace cotrain
