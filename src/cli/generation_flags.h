// The flags of a generation run, shared by `cotrain generate` and `cotrain eval --model`.
#pragma once
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "cotrain/generate/run.h"
#include "cotrain/tokenizer/chat_template.h"

namespace cotrain::cli {

inline void add_generation_flags(CLI::App* cmd, GenerationJob& job, bool with_model) {
  if (with_model) cmd->add_option("--model", job.model, "Hugging Face model directory")->required();
  cmd->add_option("--adapter", job.adapter, "PEFT LoRA adapter directory on top of --model (as cotrain lora writes it)");
  cmd->add_option("--template", job.template_name,
                  fmt::format("chat template: auto (the model's), {}", fmt::join(ChatTemplate::known_names(), ", ")))
      ->capture_default_str();
  cmd->add_option("--system", job.system, "system prompt: text, or sky-t1 / qwen-cot (SkyThought's prompts)");
  cmd->add_option("--n", job.settings.n, "samples per prompt")->capture_default_str();
  cmd->add_option("--temperature", job.settings.sampling.temperature, "sampling temperature (0: greedy)")->capture_default_str();
  cmd->add_option("--top-p", job.settings.sampling.top_p, "nucleus sampling mass")->capture_default_str();
  cmd->add_option("--top-k", job.settings.sampling.top_k, "keep the k most probable tokens (0: all)")->capture_default_str();
  cmd->add_option("--max-new-tokens", job.settings.max_new_tokens, "new tokens per sample at most")->capture_default_str();
  cmd->add_option("--batch-size", job.settings.batch_size, "sequences decoded together")->capture_default_str();
  cmd->add_option("--prefill-chunk", job.settings.prefill_chunk, "prompt tokens per prefill pass")->capture_default_str();
  cmd->add_option("--seed", job.settings.seed, "sampling seed (each sample draws from (seed, prompt, sample))")->capture_default_str();
  cmd->add_option("--stop", job.settings.stop, "stop string (repeatable); the text ends before it");
  cmd->add_option("--dtype", job.dtype, "float32, bfloat16, float16 or auto (bfloat16 on CUDA, float32 on CPU)")->capture_default_str();
  cmd->add_option("--device", job.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
  cmd->add_option("--threads", job.threads, "CPU threads for tensor math (0: torch's default)")->check(at_least(0));
}

}  // namespace cotrain::cli
