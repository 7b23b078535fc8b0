// What a generation run is asked for and what it gives back (torch-free, so the CLI and the eval
// library can describe a run without tensor headers).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cotrain/generate/sampling.h"

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

// One finished sample as a run records it (generations.jsonl): the text and how it ended.
struct SampleRecord {
  std::size_t prompt = 0, sample = 0;
  std::string text;
  std::int64_t tokens = 0;     // generated tokens, the end-of-sequence id included
  std::string finish_reason;   // "stop" or "length" (max_new_tokens or the model's context)
  std::string stop;            // the stop string that ended it, if one did
};

}  // namespace cotrain
