#include "cotrain/train/export.h"

#include <torch/torch.h>

#include "cotrain/core/atomic_file.h"
#include "cotrain/model/weights.h"

namespace fs = std::filesystem;

namespace cotrain {

void export_hf_model(CausalLM& model, const fs::path& source_dir, const fs::path& out) {
  AtomicDir dir(out);
  ModelConfig config = model->config;
  config.dtype = model->dtype() == torch::kBFloat16 ? "bfloat16" : model->dtype() == torch::kFloat16 ? "float16" : "float32";
  {
    AtomicFile file(dir.path() / "config.json");
    file.stream() << config.to_hf_json().dump(2) << "\n";
    file.commit();
  }
  save_weights(model, dir.path() / "model.safetensors");
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "vocab.json",
                           "merges.txt", "added_tokens.json", "chat_template.jinja", "generation_config.json"}) {
    if (fs::exists(source_dir / name)) fs::copy_file(source_dir / name, dir.path() / name);
  }
  dir.commit();
}

}  // namespace cotrain
