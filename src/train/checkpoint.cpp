#include "cotrain/train/checkpoint.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/core/signals.h"
#include "cotrain/data/prepare.h"
#include "cotrain/io/safetensors.h"
#include "cotrain/model/dtype.h"
#include "cotrain/model/weights.h"
#include "cotrain/train/config.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kFormat = "cotrain-checkpoint";
constexpr int kVersion = 1;
constexpr const char* kInfoFile = "checkpoint.json";
// The tensor files and the member of TrainingCheckpoint each holds.
const std::vector<std::pair<const char*, NamedTensors TrainingCheckpoint::*>> kTensorFiles = {
    {"model.safetensors", &TrainingCheckpoint::weights},
    {"optimizer.safetensors", &TrainingCheckpoint::optimizer},
    {"rng.safetensors", &TrainingCheckpoint::rng},
};

void write_tensors(const fs::path& path, const TensorStream& tensors) {
  std::vector<TensorEntry> entries;
  for (const auto& spec : tensors.specs) entries.push_back({spec.name, to_dtype(spec.dtype), spec.shape});
  SafetensorsWriter out(path, std::move(entries));
  std::size_t next = 0;
  tensors.fill([&](const std::string& name, const torch::Tensor& tensor) {
    if (next < tensors.specs.size()) {
      const TensorSpec& spec = tensors.specs[next];
      if (tensor.scalar_type() != spec.dtype || tensor.sizes() != c10::IntArrayRef(spec.shape)) {
        fail_input("{}: tensor '{}': {} {} given where its spec is {} {}", path.string(), name, c10::toString(tensor.scalar_type()),
                   fmt::join(tensor.sizes(), "x"), c10::toString(spec.dtype), fmt::join(spec.shape, "x"));
      }
    }
    ++next;
    const auto bytes = tensor.detach().to(torch::kCPU).contiguous();  // a view of TENSOR where it already is one
    out.write(name, bytes.data_ptr(), bytes.nbytes());
  });
  out.commit();
}

// A stream of tensors already in memory, in name order.
TensorStream stream_of(const NamedTensors& tensors) {
  TensorStream out;
  for (const auto& [name, t] : tensors) out.specs.push_back({name, t.scalar_type(), t.sizes().vec()});
  out.fill = [&tensors](const TensorSink& sink) {
    for (const auto& [name, t] : tensors) sink(name, t);
  };
  return out;
}

NamedTensors read_tensors(const fs::path& path) {
  auto file = SafetensorsFile::open(path);
  NamedTensors out;
  for (const auto& info : file->header().tensors) out[info.name] = tensor_view(*file, info, file);
  return out;
}

// fsync PATH (a file or a directory): the rename that publishes a checkpoint must not reach the
// disk before its contents do.
void sync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    fail_runtime("{}: cannot sync to disk", path.string());
  }
  ::close(fd);
}

// Test hook for the signal tests (tests/e2e/torch/resume_test.sh): COTRAIN_TEST_CHECKPOINT_PAUSE=N
// makes the checkpoint of step N wait, its files written and not yet renamed, for a stop signal
// (at most a minute) and two seconds more, so a test can kill -9 or signal the process then (a
// second signal sent 0.1 s after the first arrived too late under a loaded CI's ctest -j2 when the
// window was half a second).
void test_pause(std::int64_t step) {
  const char* value = std::getenv("COTRAIN_TEST_CHECKPOINT_PAUSE");
  if (!value || std::to_string(step) != value) return;
  for (int i = 0; i < 6000 && !stop_requested(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::seconds(2));
}

std::int64_t step_number(const fs::path& dir) {
  const std::string name = dir.filename().string();
  if (!name.starts_with("step-") || name.size() == 5 || name.size() > 5 + 18) return -1;
  if (!std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
  return std::stoll(name.substr(5));
}

}  // namespace

void save_checkpoint(const fs::path& dir, const CheckpointInfo& info, const TensorStream& weights, const TensorStream& optimizer,
                     const NamedTensors& rng) {
  const auto start = std::chrono::steady_clock::now();
  fs::create_directories(dir.parent_path());
  AtomicDir staged(dir, kCheckpointKind);
  const std::vector<std::pair<const char*, TensorStream>> streams = {
      {kTensorFiles[0].first, weights}, {kTensorFiles[1].first, optimizer}, {kTensorFiles[2].first, stream_of(rng)}};
  Json files = Json::object();
  for (const auto& [file, stream] : streams) {
    write_tensors(staged.path() / file, stream);
    files[file] = fs::file_size(staged.path() / file);
  }
  Json j = {{"format", kFormat},       {"version", kVersion},         {"step", info.step},
            {"epoch", info.epoch},     {"position", info.position},   {"elapsed_s", info.elapsed_s},
            {"config_hash", info.config_hash}, {"data_hash", info.data_hash}, {"files", files},
            {"config", info.config}};
  {
    AtomicFile file(staged.path() / kInfoFile);
    file.stream() << j.dump(2) << "\n";
    file.commit();
  }
  for (const auto& entry : fs::directory_iterator(staged.path())) sync_path(entry.path());
  sync_path(staged.path());
  test_pause(info.step);
  staged.commit();
  sync_path(dir.parent_path());
  std::uintmax_t bytes = 0;
  for (const auto& [file, size] : files.items()) bytes += size.get<std::uintmax_t>();
  spdlog::info("checkpoint {}: {:.1f} MiB in {:.2f}s", dir.string(), static_cast<double>(bytes) / (1 << 20),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

TrainingCheckpoint read_checkpoint(const fs::path& dir) {
  const fs::path info_path = dir / kInfoFile;
  const Json j = read_ordered_json_file(info_path);
  TrainingCheckpoint out;
  with_json_errors(info_path.string(), [&] {
    if (!j.is_object() || j.value("format", "") != kFormat) fail_input("{}: not a cotrain checkpoint", info_path.string());
    if (j.at("version") != kVersion) fail_input("{}: version {} (this cotrain reads {})", info_path.string(), j.at("version").dump(), kVersion);
    CheckpointInfo& info = out.info;
    info.step = j.at("step");
    info.epoch = j.at("epoch");
    info.position = j.at("position");
    info.elapsed_s = j.at("elapsed_s");
    info.config_hash = j.at("config_hash");
    info.data_hash = j.at("data_hash");
    info.config = j.at("config");
    if (info.step != step_number(dir)) fail_input("{}: step {} in a directory named {}", info_path.string(), info.step, dir.filename().string());
  });
  for (const auto& [file, member] : kTensorFiles) {
    const fs::path path = dir / file;
    const auto expected = with_json_errors(info_path.string(), [&] { return j.at("files").at(file).get<std::uintmax_t>(); });
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) fail_input("{}: missing", path.string());
    if (size != expected) fail_input("{}: {} bytes, expected {} (truncated or replaced)", path.string(), size, expected);
    out.*member = read_tensors(path);
  }
  return out;
}

std::optional<TrainingCheckpoint> read_latest_checkpoint(const fs::path& root) {
  for (const auto& dir : list_checkpoints(root)) {
    try {
      return read_checkpoint(dir);
    } catch (const InputError& e) {
      spdlog::warn("skipping checkpoint {}: {}", dir.string(), e.what());
    }
  }
  return std::nullopt;
}

std::vector<fs::path> list_checkpoints(const fs::path& root) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::int64_t step = step_number(entry.path());
    if (step >= 0 && entry.is_directory()) found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> out;
  for (auto& [step, path] : found) out.push_back(std::move(path));
  return out;
}

void prune_checkpoints(const fs::path& root, std::int64_t keep) {
  const auto all = list_checkpoints(root);
  for (std::size_t i = static_cast<std::size_t>(keep); i < all.size(); ++i) {
    std::error_code ec;
    fs::remove_all(all[i], ec);
    if (ec) spdlog::warn("{}: cannot remove an old checkpoint ({})", all[i].string(), ec.message());
  }
}

std::string config_hash(const Json& resolved) {
  Json math = Json::object();
  for (const auto& [section, values] : resolved.items()) {
    if (!values.is_object()) continue;
    for (const auto& [name, value] : values.items()) {
      if (changes_training_math(section + "." + name)) math[section][name] = value;
    }
  }
  return text_hash(math.dump());
}

NamedTensors rng_states(CausalLM& model) {
  NamedTensors out;
  out["torch.cpu"] = at::detail::getDefaultCPUGenerator().get_state();
  if (model->device().is_cuda()) out["torch.cuda"] = at::globalContext().defaultGenerator(model->device()).get_state();
  if (model->lora) out["lora_dropout"] = model->lora_dropout_generator.get_state();
  return out;
}

void restore_rng_states(CausalLM& model, const NamedTensors& states, const std::string& where) {
  auto state = [&](const std::string& name) {
    auto it = states.find(name);
    if (it == states.end()) fail_input("{}: {}: missing (the generator's state)", where, name);
    return it->second;
  };
  at::Generator cpu = at::detail::getDefaultCPUGenerator();  // a handle on the global generator
  cpu.set_state(state("torch.cpu"));
  if (model->device().is_cuda()) {
    at::Generator cuda = at::globalContext().defaultGenerator(model->device());
    cuda.set_state(state("torch.cuda"));
  }
  if (model->lora) model->lora_dropout_generator.set_state(state("lora_dropout"));
}

}  // namespace cotrain
