// The files of a run directory that describe the run as it goes (CONTRACTS.md): OUT/run.json,
// rewritten atomically at the start, at checkpoints and at the end, and OUT/metrics.jsonl, one
// JSON object per line, appended and flushed as each step or validation finishes.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace cotrain {

struct RunInfo {
  std::string command;            // sft | lora
  std::string status = "running"; // running | completed | stopped | failed
  std::string started_at, finished_at;  // ISO-8601 UTC
  double elapsed_s = 0;
  std::int64_t steps_done = 0, total_steps = 0;
  std::string device, dtype;
  std::int64_t world_size = 1;
  std::string error;              // when failed
};

// "2026-12-01T17:44:51Z"
std::string utc_timestamp();
// The process's peak resident set so far, MiB.
double peak_rss_mib();

// Writes OUT/run.json atomically (with peak_rss_mib and the versions).
void write_run_json(const std::filesystem::path& out_dir, const RunInfo& info);

class MetricsLog {
 public:
  explicit MetricsLog(const std::filesystem::path& path);  // appends
  void write(const nlohmann::ordered_json& line);            // one line, flushed
 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace cotrain
