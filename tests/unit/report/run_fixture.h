// Run directories as `cotrain sft|lora --out` writes them (CONTRACTS.md's layout), made up for the
// report's tests: a noisy decaying loss, warmup + cosine lr, validation every few steps.
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace cotrain::test {

struct FakeRun {
  int steps = 200;
  int val_every = 50;
  double lr = 1e-5;
  unsigned seed = 1;
};

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Number of non-overlapping occurrences of `needle` in `text`.
inline std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// metrics.jsonl's text: one training line per step, a validation line every val_every steps.
inline std::string fake_metrics(const FakeRun& r) {
  std::mt19937 rng(r.seed);
  std::normal_distribution<double> noise(0, 0.05);
  std::string out;
  const int warmup = r.steps / 10;
  for (int step = 1; step <= r.steps; ++step) {
    double progress = static_cast<double>(step) / r.steps;
    double lr = step <= warmup ? r.lr * step / warmup
                               : r.lr * 0.5 * (1 + std::cos(M_PI * (step - warmup) / double(r.steps - warmup)));
    nlohmann::json line = {{"step", step},          {"epoch", 3.0 * progress},
                           {"loss", 2.0 * std::exp(-3 * progress) + 0.4 + noise(rng)},
                           {"lr", lr},              {"grad_norm", 1.0 + std::abs(noise(rng)) * 4},
                           {"tokens", 4096},        {"target_tokens", 3000},
                           {"tokens_per_s", 5000 + 400 * noise(rng)}, {"elapsed_s", 0.8 * step}};
    out += line.dump() + "\n";
    if (step % r.val_every == 0) {
      nlohmann::json val = {{"step", step}, {"epoch", 3.0 * progress}, {"val_loss", 2.0 * std::exp(-3 * progress) + 0.5},
                            {"val_target_tokens", 12000}, {"elapsed_s", 0.8 * step + 0.1}};
      out += val.dump() + "\n";
    }
  }
  return out;
}

// Writes DIR/config.json, DIR/run.json and DIR/metrics.jsonl.
inline void write_fake_run(const std::filesystem::path& dir, const FakeRun& r) {
  nlohmann::json config = {{"model", {{"path", "models/qwen"}, {"dtype", "bf16"}}},
                           {"train", {{"lr", r.lr}, {"epochs", 3}, {"schedule", "cosine"}}},
                           {"output", {{"dir", dir.string()}}}};
  write_text(dir / "config.json", config.dump(2));
  nlohmann::json info = {{"command", "sft"}, {"status", "completed"}, {"started_at", "2025-01-01T00:00:00Z"},
                         {"finished_at", "2025-01-01T00:02:40Z"}, {"elapsed_s", 160.0}, {"steps_done", r.steps},
                         {"total_steps", r.steps}, {"peak_rss_mib", 2048.5}, {"device", "cpu"}, {"dtype", "bf16"},
                         {"world_size", 1}, {"cotrain_version", "0.1.0"}, {"libtorch_version", "2.13.0"}};
  write_text(dir / "run.json", info.dump(2));
  write_text(dir / "metrics.jsonl", fake_metrics(r));
}

}  // namespace cotrain::test
