#include "cotrain/train/run_files.h"

#include <ATen/DeviceAccelerator.h>
#include <c10/core/Device.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <torch/version.h>

#include <ctime>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/version.h"

namespace cotrain {

std::string utc_timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

std::optional<double> peak_device_memory_mib(const std::string& device) {
  const c10::Device d(device);
  if (d.is_cpu()) return std::nullopt;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 10)
  const auto stats = at::accelerator::getDeviceStats(d.has_index() ? d.index() : at::accelerator::getDeviceIndex());
  const auto all = static_cast<std::size_t>(c10::CachingDeviceAllocator::StatType::AGGREGATE);
  return static_cast<double>(stats.allocated_bytes[all].peak) / (1 << 20);
#else
  return std::nullopt;
#endif
}

void write_run_json(const std::filesystem::path& out_dir, const RunInfo& info) {
  nlohmann::ordered_json j = {{"command", info.command},
                              {"status", info.status},
                              {"started_at", info.started_at},
                              {"finished_at", info.finished_at.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(info.finished_at)},
                              {"elapsed_s", info.elapsed_s},
                              {"steps_done", info.steps_done},
                              {"total_steps", info.total_steps},
                              {"peak_rss_mib", peak_rss_mib()},
                              {"cotrain_version", version()},
                              {"libtorch_version", TORCH_VERSION},
                              {"device", info.device},
                              {"dtype", info.dtype},
                              {"world_size", info.world_size}};
  if (const auto device_mib = peak_device_memory_mib(info.device)) j["peak_device_memory_mib"] = *device_mib;
  if (!info.error.empty()) j["error"] = info.error;
  AtomicFile file(out_dir / "run.json");
  file.stream() << j.dump(2) << "\n";
  file.commit();
}

std::vector<nlohmann::json> rewind_metrics(const std::filesystem::path& path, std::int64_t step) {
  std::vector<nlohmann::json> kept;
  if (!std::filesystem::exists(path)) return kept;
  std::ifstream in = open_input_file(path);
  AtomicFile out(path, true);
  std::string text;
  for (std::size_t line = 1; std::getline(in, text); ++line) {
    if (in.eof()) {  // no newline: the process died while writing it
      spdlog::warn("{}: ignoring a torn last line", where(path, line));
      break;
    }
    nlohmann::json j = parse_json(text, where(path, line));
    if (with_json_errors(where(path, line), [&] { return j.at("step").get<std::int64_t>(); }) > step) continue;
    out.stream() << text << '\n';
    kept.push_back(std::move(j));
  }
  out.commit();
  return kept;
}

MetricsLog::MetricsLog(const std::filesystem::path& path) : path_(path), out_(path, std::ios::app | std::ios::binary) {
  if (!out_) fail_input("cannot write {}", path.string());
}

void MetricsLog::write(const nlohmann::ordered_json& line) {
  out_ << line.dump() << '\n';
  out_.flush();
  if (!out_) fail_runtime("write error on {}", path_.string());
}

}  // namespace cotrain
