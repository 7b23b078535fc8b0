#include "cotrain/model/peft_adapter.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/io/safetensors.h"
#include "cotrain/model/logprobs.h"
#include "cotrain/model/lora.h"
#include "cotrain/model/weights.h"
#include "unit/model/tiny_models.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;
using test::random_model;

CausalLM model_with_adapter(Arch arch, torch::ScalarType dtype, const LoraSettings& s) {
  auto model = random_model(arch, false, 5, dtype);
  add_lora(model, s, 9);
  test::randomize_lora_b(model, 10);
  return model;
}

TEST(PeftAdapter, SaveLoadRoundTripIsBitExactInPeftsFormat) {
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto dir = test::scratch_dir() / "adapter";
    auto s = test::lora_settings({"q_proj", "v_proj", "model.layers.1.mlp.down_proj"}, 4, 8, /*rslora=*/true, 0.1);
    auto model = model_with_adapter(Arch::Qwen3, dtype, s);
    save_peft_adapter(model, dir, "org/base-model");

    auto config = read_json_file(dir / "adapter_config.json");
    EXPECT_EQ(config["peft_type"], "LORA");
    EXPECT_EQ(config["task_type"], "CAUSAL_LM");
    EXPECT_EQ(config["base_model_name_or_path"], "org/base-model");
    EXPECT_EQ(config["r"], 4);
    EXPECT_TRUE(config["lora_alpha"].is_number_integer());
    EXPECT_EQ(config["lora_alpha"], 8);
    EXPECT_DOUBLE_EQ(config["lora_dropout"].get<double>(), 0.1);
    EXPECT_EQ(config["use_rslora"], true);
    EXPECT_EQ(config["bias"], "none");
    EXPECT_TRUE(config["modules_to_save"].is_null());
    // Names adapted in every layer, a full path for the module adapted in one layer only.
    EXPECT_EQ(config["target_modules"], nlohmann::json({"model.layers.1.mlp.down_proj", "q_proj", "v_proj"}));

    auto file = SafetensorsFile::open(dir / "adapter_model.safetensors");
    EXPECT_EQ(file->header().metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
    EXPECT_EQ(file->header().tensors.size(), 2u * 5);
    const auto* a = file->find("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->dtype, DType::F32);  // the adapter's dtype, fp32 also over a bf16 base
    EXPECT_EQ(a->shape, (std::vector<std::int64_t>{4, 48}));
    EXPECT_NE(file->find("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"), nullptr);

    auto other = random_model(Arch::Qwen3, false, 5, dtype);
    auto loaded = load_peft_adapter(other, dir);
    EXPECT_EQ(loaded.rank, 4);
    EXPECT_DOUBLE_EQ(loaded.alpha, 8);
    EXPECT_TRUE(loaded.rslora);
    EXPECT_DOUBLE_EQ(loaded.dropout, 0.1);
    auto mine = lora_parameters(model), theirs = lora_parameters(other);
    ASSERT_EQ(mine.size(), theirs.size());
    for (const auto& item : mine) {
      EXPECT_TRUE(torch::equal(item.value(), theirs[item.key()])) << item.key();
      EXPECT_TRUE(theirs[item.key()].requires_grad()) << item.key();
    }
    model->eval();
    other->eval();
    torch::NoGradGuard no_grad;
    auto row = pack_documents({{1, 2, 3, 50, 60, 70, 80}});
    EXPECT_TRUE(torch::equal(row_logprobs(model, row), row_logprobs(other, row)));
  }
}

// A good adapter directory to break one way at a time.
struct AdapterFiles {
  fs::path dir;
  nlohmann::json config;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;

  explicit AdapterFiles(const fs::path& root) : dir(root / "adapter") {
    auto model = model_with_adapter(Arch::Qwen2, torch::kFloat32, test::lora_settings({"all-linear"}, 4, 8, false, 0));
    save_peft_adapter(model, root / "good", "base");
    config = read_json_file(root / "good" / "adapter_config.json");
    auto file = SafetensorsFile::open(root / "good" / "adapter_model.safetensors");
    for (const auto& info : file->header().tensors) {
      tensors.emplace_back(info.name, tensor_view(*file, info, file).clone());
    }
  }

  void write() const {
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "adapter_config.json") << config.dump();
    std::vector<TensorToWrite> out;
    for (const auto& [name, t] : tensors) out.push_back({name, to_dtype(t.scalar_type()), t.sizes().vec(), t.data_ptr(), t.nbytes()});
    write_safetensors(dir / "adapter_model.safetensors", out);
  }

  torch::Tensor& tensor(const std::string& name) {
    for (auto& [n, t] : tensors) {
      if (n == name) return t;
    }
    throw std::runtime_error("no tensor " + name);
  }

  void erase(const std::string& name) {
    std::erase_if(tensors, [&](const auto& item) { return item.first == name; });
  }

  std::string load_error() const {
    write();
    auto model = random_model(Arch::Qwen2, false, 5);
    try {
      load_peft_adapter(model, dir);
    } catch (const InputError& e) {
      EXPECT_FALSE(model->lora.has_value()) << "a refused adapter was attached";
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      return e.what();
    }
    return "(no error)";
  }
};

TEST(PeftAdapter, BadFilesAreOneLineErrorsNamingTheTensorOrKey) {
  const auto root = test::scratch_dir();
  const std::string up_b = "base_model.model.model.layers.1.mlp.up_proj.lora_B.weight";
  const std::string q_a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  auto expect_error = [&](const AdapterFiles& files, const std::string& part) {
    auto message = files.load_error();
    EXPECT_NE(message.find(part), std::string::npos) << message;
  };
  {
    AdapterFiles files(root);
    EXPECT_EQ(files.load_error(), "(no error)");  // the unbroken copy loads
  }
  {
    AdapterFiles files(root);
    files.erase(up_b);
    expect_error(files, (files.dir / "adapter_model.safetensors").string() + ": missing tensor " + up_b);
  }
  {
    AdapterFiles files(root);
    files.tensor(q_a) = torch::zeros({4, 31});
    expect_error(files, "adapter_model.safetensors: tensor " + q_a + ": shape 4x31 vs 4x32 (r = 4 in adapter_config.json)");
  }
  {
    AdapterFiles files(root);
    files.config["r"] = 8;  // the tensors are rank 4
    expect_error(files, "tensor " + q_a + ": shape 4x32 vs 8x32 (r = 8 in adapter_config.json)");
  }
  {
    AdapterFiles files(root);
    files.tensors.emplace_back("base_model.model.lm_head.lora_A.weight", torch::zeros({4, 32}));
    expect_error(files, "unexpected tensor base_model.model.lm_head.lora_A.weight");
  }
  {
    AdapterFiles files(root);
    files.tensor(q_a) = torch::zeros({4, 32}, torch::kInt32);
    expect_error(files, "tensor " + q_a + ": dtype I32 is not a float type");
  }
  const std::vector<std::pair<std::string, nlohmann::json>> unsupported = {
      {"use_dora", true}, {"modules_to_save", {"lm_head"}}, {"fan_in_fan_out", true}, {"lora_bias", true},
      {"rank_pattern", {{"q_proj", 2}}}, {"layers_to_transform", {0}}};
  for (const auto& [key, value] : unsupported) {
    AdapterFiles files(root);
    files.config[key] = value;
    expect_error(files, (files.dir / "adapter_config.json").string() + ": " + key + ": ");
    expect_error(files, "is not supported");
  }
  const std::vector<std::tuple<std::string, nlohmann::json, std::string>> bad_values = {
      {"bias", "all", "bias: \"all\" is not supported (\"none\")"},
      {"peft_type", "IA3", "peft_type: expected \"LORA\" (got \"IA3\")"},
      {"task_type", "SEQ_CLS", "task_type: \"SEQ_CLS\" is not supported (CAUSAL_LM)"},
      {"r", 0, "r: must be a positive integer (got 0)"},
      {"lora_alpha", "sixteen", "lora_alpha: expected a number (got \"sixteen\")"},
      {"lora_dropout", 1.5, "lora_dropout: must be in [0, 1) (got 1.5)"},
      {"target_modules", ".*proj", "target_modules: \".*proj\" is a regular expression, which is not supported"},
      {"target_modules", {"q_proj", "lm_head"}, "target_modules: 'lm_head' names lm_head, which LoRA cannot adapt"},
      {"target_modules", {"q_proj", "attn"}, "target_modules: 'attn' matches no module"},
  };
  for (const auto& [key, value, message] : bad_values) {
    AdapterFiles files(root);
    files.config[key] = value;
    expect_error(files, (files.dir / "adapter_config.json").string() + ": " + message);
  }
  {
    AdapterFiles files(root);
    files.config.erase("target_modules");
    expect_error(files, "target_modules: missing");
  }
  {
    AdapterFiles files(root);
    files.write();
    fs::remove(files.dir / "adapter_model.safetensors");
    std::ofstream(files.dir / "adapter_model.bin") << "pickle";
    auto model = random_model(Arch::Qwen2, false, 5);
    try {
      load_peft_adapter(model, files.dir);
      FAIL();
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("adapter_model.bin (a pickle) is not read"), std::string::npos) << e.what();
    }
    fs::remove(files.dir / "adapter_config.json");
    EXPECT_THROW(load_peft_adapter(model, files.dir), InputError);
    EXPECT_THROW(load_peft_adapter(model, root / "nowhere"), InputError);
  }
}

}  // namespace
}  // namespace cotrain
