// The files of a run directory that describe the run as it goes (CONTRACTS.md): OUT/run.json,
// rewritten atomically at the start, at checkpoints and at the end, and OUT/metrics.jsonl, one
// JSON object per line, appended and flushed as each step or validation finishes.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

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
// The most memory torch's caching allocator on DEVICE ("cuda:0") has held for tensors at once so
// far, MiB; none for the CPU, and none with libtorch before 2.10, whose C++ API has no
// device-independent reading of it.
std::optional<double> peak_device_memory_mib(const std::string& device);

// Writes OUT/run.json atomically (with peak_rss_mib, peak_device_memory_mib on an accelerator,
// and the versions).
void write_run_json(const std::filesystem::path& out_dir, const RunInfo& info);

// For a run resumed from its step-STEP checkpoint: rewrites the metrics log at PATH (atomically)
// keeping the lines of steps up to STEP, which is what a run that never stopped had written by
// then; lines a killed run wrote after its checkpoint go, as does a torn last line (with a
// warning). Returns the kept lines.
std::vector<nlohmann::json> rewind_metrics(const std::filesystem::path& path, std::int64_t step);

class MetricsLog {
 public:
  explicit MetricsLog(const std::filesystem::path& path);  // appends
  void write(const nlohmann::ordered_json& line);            // one line, flushed
 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace cotrain
