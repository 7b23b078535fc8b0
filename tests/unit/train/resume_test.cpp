// Bit-exact resume (issue 10): a run continued from its step-K checkpoint ends with the same bytes
// as the run that never stopped (final weights, optimizer state, generator states, metrics.jsonl
// but its timing fields), for full SFT and LoRA with dropout, packed and not, resumed mid-epoch
// and at an epoch's end, from a checkpoint saved on schedule or by a stop. On a 2-layer model with
// a 64-token vocabulary, so each whole run takes milliseconds. tests/e2e/torch/resume_test.sh does
// the signals and kill -9 through the CLI.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <csignal>
#include <fstream>
#include <thread>
#include <sstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/rng.h"
#include "cotrain/core/signals.h"
#include "cotrain/data/token_cache.h"
#include "cotrain/model/model_dir.h"
#include "cotrain/train/checkpoint.h"
#include "cotrain/train/recipe.h"
#include "tiny_model.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A model directory and a token cache of 16 documents of 5 to 40 ids (13 train, 3 validation).
void write_inputs(const fs::path& dir) {
  CausalLM model = tiny_model(false);
  write_model_dir(model, dir / "model");
  fs::create_directories(dir / "cache");
  TokenCacheWriter writer(dir / "cache");
  Rng rng(7);
  for (int d = 0; d < 16; ++d) {
    const auto n = static_cast<std::size_t>(5 + rng.below(36));
    std::vector<TokenId> ids(n);
    std::vector<std::uint8_t> mask(n, 1);
    for (auto& id : ids) id = static_cast<TokenId>(rng.below(64));
    for (std::size_t i = 0; i < 3; ++i) mask[i] = 0;  // a prompt
    writer.add(ids, mask);
  }
  writer.finish();
  std::ofstream(dir / "cache" / "manifest.json") << nlohmann::json{{"format", kTokenCacheFormat}, {"version", kTokenCacheVersion},
                                                                   {"template", "none"}, {"cutoff", 64}, {"system_prompt", nullptr}}
                                                                     .dump();
}

struct Case {
  std::string name;
  TrainMode mode;
  bool pack;
  std::int64_t stop;  // resume from this step's checkpoint (4 is an epoch's end)
};

TrainResult train(const Case& c, const fs::path& dir, const fs::path& out, std::vector<ConfigOverride> extra = {}) {
  std::vector<ConfigOverride> o = {
      {"model.path", (dir / "model").string(), "test"}, {"model.dtype", "fp32", "test"}, {"model.device", "cpu", "test"},
      {"data.path", (dir / "cache").string(), "test"}, {"data.cutoff", 64, "test"}, {"data.pack", c.pack, "test"},
      {"data.val_fraction", 0.2, "test"}, {"train.epochs", 2, "test"}, {"train.global_batch", 4, "test"},
      {"train.micro_batch", 2, "test"}, {"train.lr", 1e-2, "test"}, {"train.warmup_ratio", 0.2, "test"},
      {"train.eval_every", 3, "test"}, {"train.save_every", 1, "test"}, {"train.keep_checkpoints", 100, "test"},
      {"train.activation_checkpointing", false, "test"}, {"output.dir", out.string(), "test"}};
  if (c.mode == TrainMode::lora) o.push_back({"lora.dropout", 0.25, "test"});
  o.insert(o.end(), extra.begin(), extra.end());
  return run_training(load_train_config(c.mode, "", o));
}

// metrics.jsonl without the fields that time the run or read its memory peaks.
std::vector<nlohmann::json> metrics(const fs::path& run) {
  auto lines = read_jsonl(run / "metrics.jsonl");
  for (auto& line : lines) {
    for (const char* timing : {"elapsed_s", "tokens_per_s", "peak_rss_mib", "peak_device_memory_mib"}) line.erase(timing);
  }
  return lines;
}

// A copy of the finished run RUN as a run killed after its step-STEP checkpoint leaves it: later
// checkpoints and the export gone, metrics.jsonl as it was, plus a torn line.
fs::path cut_back(const fs::path& run, const fs::path& copy, std::int64_t step) {
  fs::copy(run, copy, fs::copy_options::recursive);
  fs::remove_all(copy / "final");
  for (const auto& dir : list_checkpoints(copy / "checkpoints")) {
    if (std::stoll(dir.filename().string().substr(5)) > step) fs::remove_all(dir);
  }
  std::ofstream(copy / "metrics.jsonl", std::ios::app) << R"({"step": 9, "lo)";
  return copy;
}

void expect_same_run(const fs::path& a, const fs::path& b, TrainMode mode) {
  const std::string weights = mode == TrainMode::sft ? "model.safetensors" : "adapter_model.safetensors";
  EXPECT_TRUE(file_bytes(a / "final" / weights) == file_bytes(b / "final" / weights)) << b << ": final weights differ";
  for (const char* file : {"model.safetensors", "optimizer.safetensors", "rng.safetensors"}) {
    EXPECT_TRUE(file_bytes(a / "checkpoints/step-8" / file) == file_bytes(b / "checkpoints/step-8" / file)) << b << ": " << file << " differs";
  }
  auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(ma.size(), 8u + 3u);  // 8 steps, validation at 3, 6 and 8
  ASSERT_EQ(ma.size(), mb.size());
  for (std::size_t i = 0; i < ma.size(); ++i) EXPECT_EQ(ma[i], mb[i]) << b << ": metrics line " << i + 1;
}

class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::set_num_threads(1); }  // tensors this small only wait for a busy pool
  void TearDown() override { reset_stop_request(); }
};
class BitExactResume : public ResumeTest, public ::testing::WithParamInterface<Case> {};

TEST_P(BitExactResume, FromAScheduledCheckpointEqualsTheStraightRun) {
  const Case c = GetParam();
  const fs::path dir = test::scratch_dir();
  write_inputs(dir);
  TrainResult straight = train(c, dir, dir / "straight");
  ASSERT_EQ(straight.status, "completed");
  ASSERT_EQ(straight.steps_done, 8);

  const fs::path resumed = cut_back(dir / "straight", dir / "resumed", c.stop);
  TrainResult result = train(c, dir, resumed);
  EXPECT_EQ(result.resumed_from, c.stop);
  EXPECT_EQ(result.status, "completed");
  expect_same_run(dir / "straight", resumed, c.mode);
}

// The stop path, as a scheduler's SIGTERM takes it: a stop requested while step 2's checkpoint is
// being written (COTRAIN_TEST_CHECKPOINT_PAUSE holds it until then) lets that checkpoint finish,
// trains step 3, saves its checkpoint (skipping step 3's validation) and returns "stopped"; the
// run resumed from there ends where the straight run ends.
TEST_P(BitExactResume, AfterAStopEqualsTheStraightRun) {
  const Case c = GetParam();
  const fs::path dir = test::scratch_dir();
  write_inputs(dir);
  ASSERT_EQ(train(c, dir, dir / "straight").status, "completed");

  const fs::path run = dir / "stopped";
  std::thread stopper([&] {
    for (int i = 0; i < 30000 && !stop_requested(); ++i) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(run / "checkpoints", ec)) {
        if (entry.path().filename().string().starts_with(".step-2.tmp-") && fs::exists(entry.path() / "checkpoint.json")) request_stop(SIGTERM);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  setenv("COTRAIN_TEST_CHECKPOINT_PAUSE", "2", 1);
  TrainResult stopped = train(c, dir, run);
  unsetenv("COTRAIN_TEST_CHECKPOINT_PAUSE");
  stopper.join();
  EXPECT_EQ(stopped.status, "stopped");
  EXPECT_EQ(stopped.steps_done, 3);
  EXPECT_EQ(stopped.stop_signal, SIGTERM);
  EXPECT_FALSE(fs::exists(run / "final"));
  for (const char* file : {"model.safetensors", "optimizer.safetensors", "rng.safetensors"}) {
    EXPECT_TRUE(file_bytes(dir / "straight/checkpoints/step-3" / file) == file_bytes(run / "checkpoints/step-3" / file)) << file;
  }
  reset_stop_request();
  TrainResult result = train(c, dir, run);
  EXPECT_EQ(result.resumed_from, 3);
  expect_same_run(dir / "straight", run, c.mode);
}

INSTANTIATE_TEST_SUITE_P(Runs, BitExactResume,
                         ::testing::Values(Case{"sft", TrainMode::sft, false, 3}, Case{"sft_packed", TrainMode::sft, true, 4},
                                           Case{"lora", TrainMode::lora, false, 5}, Case{"lora_packed", TrainMode::lora, true, 4}),
                         [](const auto& info) { return info.param.name; });

TEST_F(ResumeTest, RefusesOtherMathNamingTheKeysUnlessForced) {
  const fs::path dir = test::scratch_dir();
  write_inputs(dir);
  const Case c{"sft", TrainMode::sft, false, 2};
  ASSERT_EQ(train(c, dir, dir / "straight").status, "completed");
  cut_back(dir / "straight", dir / "run", 1);
  try {
    train(c, dir, dir / "run", {{"train.lr", 2e-2, "test"}, {"data.pack", true, "test"}});
    FAIL() << "resumed with another lr";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("step-1: trained with other settings (data.pack, train.lr)"), std::string::npos) << e.what();
  }
  // Bookkeeping keys may change.
  EXPECT_EQ(train(c, dir, dir / "run", {{"train.log_every", 3, "test"}, {"train.keep_checkpoints", 1, "test"}}).status, "completed");
  EXPECT_EQ(list_checkpoints(dir / "run" / "checkpoints").size(), 1u);
}

TEST_F(ResumeTest, RequiredWithoutACheckpointIsAnInputError) {
  const fs::path dir = test::scratch_dir();
  write_inputs(dir);
  EXPECT_THROW(run_training(load_train_config(TrainMode::sft, "", {{"model.path", (dir / "model").string(), "t"},
                                                                   {"data.path", (dir / "cache").string(), "t"},
                                                                   {"data.cutoff", 64, "t"},
                                                                   {"output.dir", (dir / "none").string(), "t"}}),
                            {.required = true}),
               InputError);
}

TEST(MathConfigDifferences, NamesChangedKeysButNotBookkeeping) {
  nlohmann::ordered_json a = {{"train", {{"lr", 1e-5}, {"log_every", 1}, {"seed", 1}}}, {"output", {{"dir", "a"}}}};
  nlohmann::ordered_json b = {{"train", {{"lr", 2e-5}, {"log_every", 5}, {"seed", 1}}}, {"output", {{"dir", "b"}}}, {"lora", {{"rank", 8}}}};
  EXPECT_EQ(math_config_differences(a, b), (std::vector<std::string>{"lora.rank", "train.lr"}));
  EXPECT_NE(config_hash(a), config_hash(b));
  b["train"]["lr"] = 1e-5;
  b.erase("lora");
  EXPECT_TRUE(math_config_differences(a, b).empty());
  EXPECT_EQ(config_hash(a), config_hash(b));
}

}  // namespace
}  // namespace cotrain
