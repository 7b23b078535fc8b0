// The decode loop: n samples per prompt, batched, with a KV cache (model/kv_cache.h).
//
// Up to batch_size sequences decode together, one cache row each. A row whose sample ends is
// refilled at once with the next waiting sample, so long and short samples share steps without
// padding. A prompt is prefilled once (in chunks of at most prefill_chunk tokens) and its cache row
// copied to the rows of its other samples. A sample ends at an end-of-sequence id (the model's
// generation_config.json), at a stop string, after max_new_tokens, or at the model's context.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cotrain/generate/sampling.h"
#include "cotrain/model/causal_lm.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

struct GenerationSettings {
  SamplingParams sampling;
  std::int64_t n = 1;                  // samples per prompt
  std::int64_t max_new_tokens = 1024;
  std::int64_t batch_size = 8;         // sequences decoded together
  std::int64_t prefill_chunk = 2048;   // prompt tokens per prefill pass
  std::uint64_t seed = 0;
  std::vector<std::int64_t> eos_token_ids;
  std::vector<std::string> stop;       // stop strings (not included in the text)
};

// Throws InputError naming the flag of a bad setting.
void check_generation_settings(const GenerationSettings& settings);

struct PromptIds {
  std::size_t index = 0;             // the prompt's index in its input: seeds its samples
  std::vector<std::int64_t> ids;
};

struct Completion {
  std::size_t prompt = 0, sample = 0;
  std::vector<std::int64_t> tokens;  // generated ids, including the end-of-sequence id that ended it
  std::string text;                  // decoded without special tokens, cut before a stop string
  std::string finish_reason;         // "stop" (end-of-sequence id or stop string) or "length"
  std::string stop;                  // the stop string that ended it (empty otherwise)
};

// Generates settings.n samples for each prompt. on_prompt(samples) is called once per prompt as
// soon as all its samples are done (prompts finish in any order; samples come in sample order).
// Returns early, without calling on_prompt for unfinished prompts, when a stop is requested
// (SIGINT/SIGTERM, core/signals.h). on_token(n) reports progress (n new tokens).
void generate(CausalLM& model, const Tokenizer& tokenizer, const std::vector<PromptIds>& prompts, const GenerationSettings& settings,
              const std::function<void(std::vector<Completion>&&)>& on_prompt,
              const std::function<void(std::int64_t)>& on_token = {});

}  // namespace cotrain
