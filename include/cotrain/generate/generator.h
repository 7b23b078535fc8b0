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

#include "cotrain/generate/settings.h"
#include "cotrain/model/causal_lm.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

// Generates settings.n samples for each prompt. on_prompt(samples) is called once per prompt as
// soon as all its samples are done (prompts finish in any order; samples come in sample order).
// Returns early, without calling on_prompt for unfinished prompts, when a stop is requested
// (SIGINT/SIGTERM, core/signals.h). on_token(n) reports progress (n new tokens).
void generate(CausalLM& model, const Tokenizer& tokenizer, const std::vector<PromptIds>& prompts, const GenerationSettings& settings,
              const std::function<void(std::vector<Completion>&&)>& on_prompt,
              const std::function<void(std::int64_t)>& on_token = {});

}  // namespace cotrain
