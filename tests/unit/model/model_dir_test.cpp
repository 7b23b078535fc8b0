#include "cotrain/model/model_dir.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/model/lora.h"
#include "cotrain/model/weights.h"
#include "unit/model/tiny_models.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;
using test::random_model;

void expect_same_parameters(CausalLM& a, CausalLM& b) {
  auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ModelDir, ShardsAboveTheLimitWithHfsSplitAndIndex) {
  auto dir = test::scratch_dir() / "m";
  auto model = random_model(Arch::Llama);  // untied: embed 97x32 and lm_head 97x32, 12,416 bytes each
  // HF's rule: tensors in order; a new shard when the next would pass the limit; a tensor larger
  // than the limit alone in its own.
  ModelDirOptions options;
  options.max_shard_bytes = 12'000;
  write_model_dir(model, dir, options);
  auto index = read_json_file(dir / "model.safetensors.index.json");
  const auto& map = index["weight_map"];
  ASSERT_EQ(map.size(), model->named_parameters().size());
  std::uint64_t bytes = 0;
  std::int64_t params = 0;
  std::set<std::string> shards;
  for (const auto& item : model->named_parameters()) {
    bytes += item.value().nbytes();
    params += item.value().numel();
    shards.insert(map[item.key()].get<std::string>());
  }
  EXPECT_EQ(index["metadata"]["total_size"], bytes);
  EXPECT_EQ(index["metadata"]["total_parameters"], params);
  const auto n = shards.size();
  EXPECT_GT(n, 3u);
  EXPECT_EQ(map["model.embed_tokens.weight"], fmt::format("model-00001-of-{:05d}.safetensors", n));
  // lm_head (over the limit) is closed into a shard of its own at once, before the shard that
  // collects the final norm, exactly as huggingface_hub's split_state_dict_into_shards does.
  EXPECT_EQ(map["lm_head.weight"], fmt::format("model-{:05d}-of-{:05d}.safetensors", n - 1, n));
  EXPECT_EQ(map["model.norm.weight"], fmt::format("model-{:05d}-of-{:05d}.safetensors", n, n));
  EXPECT_EQ(map["model.layers.0.input_layernorm.weight"], fmt::format("model-00002-of-{:05d}.safetensors", n));
  for (const auto& shard : shards) {
    EXPECT_TRUE(fs::exists(dir / shard)) << shard;
    if (shard != map["model.embed_tokens.weight"].get<std::string>() && shard != map["lm_head.weight"].get<std::string>()) {
      EXPECT_LE(fs::file_size(dir / shard), 12'000u + 4096);
    }
  }
  EXPECT_FALSE(fs::exists(dir / "model.safetensors"));
  auto loaded = load_model(dir, torch::kFloat32, torch::kCPU);
  expect_same_parameters(model, loaded);
  // transformers reads the shards through the index: the same tensors as from one file.
  write_model_dir(model, dir.parent_path() / "one-file");
  auto command = fmt::format(
      "python3 -c 'import sys, torch; from transformers import AutoModelForCausalLM as M; "
      "a, b = (M.from_pretrained(d, dtype=torch.float32).state_dict() for d in sys.argv[1:]); "
      "sys.exit(0 if a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a) else 1)' {} {}",
      dir.string(), (dir.parent_path() / "one-file").string());
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

TEST(ModelDir, NamesTheDtypeAndCopiesTokenizerAndGenerationFiles) {
  auto root = test::scratch_dir();
  fs::create_directories(root / "source");
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json", "notes.txt"}) {
    std::ofstream(root / "source" / name) << "{\"file\": \"" << name << "\"}";
  }
  auto model = random_model(Arch::Qwen3, false, 1, torch::kBFloat16);
  write_model_dir(model, root / "m", {.copy_from = root / "source" / "tokenizer.json"});  // a file: its directory
  EXPECT_EQ(files_in(root / "m"), (std::vector<std::string>{".cotrain-output", "chat_template.jinja", "config.json", "generation_config.json",
                                                             "model.safetensors", "tokenizer.json", "tokenizer_config.json"}));
  EXPECT_EQ(read_json_file(root / "m" / "generation_config.json")["file"], "generation_config.json");
  auto config = ModelConfig::load(root / "m");
  EXPECT_EQ(config.dtype, "bfloat16");
  EXPECT_EQ(config.head_dim, 16);
  EXPECT_EQ(CheckpointFiles(root / "m").stats().tensors_by_dtype, (std::map<std::string, std::int64_t>{{"BF16", 25}}));
  auto loaded = load_model(root / "m", torch::kBFloat16, torch::kCPU);
  expect_same_parameters(model, loaded);
}

TEST(ModelDir, AnEarlierModelIsReplacedOnlyByACompleteOne) {
  auto root = test::scratch_dir();
  auto first = random_model(Arch::Qwen2, false, 1), second = random_model(Arch::Qwen2, false, 2);
  write_model_dir(first, root / "m");
  fs::create_directories(root / "empty");
  try {
    write_model_dir(second, root / "m", {.copy_from = root / "empty", .require_tokenizer = true});
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), (root / "empty").string() + ": no tokenizer.json, tokenizer_config.json or tokenizer.model there");
  }
  EXPECT_EQ(files_in(root), (std::vector<std::string>{"empty", "m"}));  // no temporary left behind
  add_lora(second, LoraSettings{}, 0);
  EXPECT_THROW(write_model_dir(second, root / "m"), RuntimeFailure);  // adapters are merged or saved apart
  auto still_first = load_model(root / "m", torch::kFloat32, torch::kCPU);
  expect_same_parameters(first, still_first);
  merge_lora(second);
  write_model_dir(second, root / "m");
  EXPECT_EQ(files_in(root / "m"), (std::vector<std::string>{".cotrain-output", "config.json", "model.safetensors"}));
  auto now_second = load_model(root / "m", torch::kFloat32, torch::kCPU);
  expect_same_parameters(second, now_second);
  // A directory that is not a model cotrain wrote is never replaced.
  fs::create_directories(root / "mine");
  std::ofstream(root / "mine" / "notes.txt") << "keep";
  EXPECT_THROW(write_model_dir(second, root / "mine"), InputError);
  EXPECT_EQ(files_in(root / "mine"), std::vector<std::string>{"notes.txt"});
}

}  // namespace
}  // namespace cotrain
