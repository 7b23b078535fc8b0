// A whole generation run from files: load the model, render the conversations with its chat
// template, generate, and keep the results in a JSONL file that an interrupted run continues.
// Torch-free header: the CLI's eval and generate commands describe a run without tensor headers.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cotrain/generate/prompts.h"
#include "cotrain/generate/settings.h"

namespace cotrain {

struct GenerationJob {
  std::filesystem::path model;         // a Hugging Face model directory
  std::filesystem::path adapter;       // a PEFT LoRA adapter on top of it (unmerged), or empty
  std::string template_name = "auto";  // chat template; auto: the model's (chat_template.jinja)
  std::string system;                  // system prompt (a name of resolve_system_prompt or text)
  std::string dtype = "auto", device = "auto";
  int threads = 0;                     // CPU threads for tensor math; 0: torch's default
  GenerationSettings settings;         // eos_token_ids empty: the model's generation_config.json
};

struct GenerationRun {
  std::vector<std::vector<SampleRecord>> samples;  // by conversation, n each (resumed ones read back)
  std::size_t resumed_prompts = 0;
  std::int64_t new_tokens = 0;  // generated in this process
  double seconds = 0;           // generation time in this process (model loading excluded)
  nlohmann::json settings;      // what OUT.settings.json records
};

// Generates job.settings.n samples for every conversation into OUT: one JSON line per sample
// ({"prompt_index", "sample_index", "text", "tokens", "finish_reason"[, "stop"]}), appended and
// flushed as each prompt finishes. OUT.settings.json records the settings that decide the results
// (model, template, system prompt, sampling, seed, limits, dtype, a hash of the prompt ids); an OUT
// made with other settings is an InputError. A rerun keeps the prompts OUT holds in full, drops a
// torn last line and whatever prompt it belonged to, and generates the rest. SIGINT/SIGTERM stop
// at the next step: finished prompts are kept and a RuntimeFailure says how to continue.
GenerationRun run_generation(const GenerationJob& job, const std::vector<Conversation>& conversations, const std::filesystem::path& out);

}  // namespace cotrain
