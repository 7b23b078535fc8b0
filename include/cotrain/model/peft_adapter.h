// PEFT LoRA adapter directories, as peft (PeftModel.from_pretrained) and vLLM read them:
//   adapter_config.json        peft_type "LORA", task_type "CAUSAL_LM", r, lora_alpha, lora_dropout,
//                              target_modules, use_rslora, bias "none", base_model_name_or_path, ...
//   adapter_model.safetensors  base_model.model.<module path>.lora_A.weight [r, in] and
//                              .lora_B.weight [out, r]; metadata {"format": "pt"}
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "cotrain/model/causal_lm.h"

namespace cotrain {

inline constexpr const char* kPeftAdapterKind = "lora-adapter";  // its AtomicDir kind (core/atomic_file.h)

// Writes the adapter attached to MODEL to DIR, atomically (DIR is replaced only once both files
// are complete). Tensors keep the adapter's dtype (fp32 for a bf16/fp16 base, as peft saves).
// target_modules lists module names ("q_proj", ...) adapted in every layer, full paths otherwise.
void save_peft_adapter(CausalLM& model, const std::filesystem::path& dir, const std::string& base_model_name);

// Reads the adapter in DIR and attaches it to MODEL (which must have none; the base is frozen),
// returning its settings. target_modules follows peft (names, full paths, or "all-linear").
// Every tensor is checked against the model: a missing, unexpected or mis-shaped one, or a
// setting cotrain does not implement (DoRA, modules_to_save, bias other than "none",
// fan_in_fan_out, rank/alpha patterns, ...) is a one-line InputError naming the file and the
// tensor or key.
LoraSettings load_peft_adapter(CausalLM& model, const std::filesystem::path& dir);

// `cotrain export`: the base model in BASE_DIR with the adapter in ADAPTER_DIR merged into it
// (W += s B A in fp32, rounded once to DTYPE), written to OUT_DIR as a Hugging Face model
// directory (write_model_dir) with BASE_DIR's tokenizer and generation files. DTYPE defaults to
// the base's dtype.
void export_merged_model(const std::filesystem::path& base_dir, const std::filesystem::path& adapter_dir,
                         const std::filesystem::path& out_dir, std::optional<torch::ScalarType> dtype, const torch::Device& device);

}  // namespace cotrain
