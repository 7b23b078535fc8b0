// Shared by the generation tests: the fixture directory, a tokenizer, and generate() collected.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "common/shared_data.h"
#include "cotrain/generate/generator.h"

namespace cotrain::test {

inline std::filesystem::path fixture_dir() { return std::filesystem::path(COTRAIN_BINARY_DIR) / "reference" / "generate_fixtures"; }

// Qwen2.5's tokenizer from shared/ (the random models' 512 ids are valid Qwen ids).
inline const Tokenizer& qwen_tokenizer() {
  static std::unique_ptr<Tokenizer> tokenizer = Tokenizer::load(shared_root() / "tokenizers" / "qwen2.5" / "tokenizer.json");
  return *tokenizer;
}

// Every completion, ordered by (prompt, sample); prompt indices are positions in PROMPTS.
inline std::vector<Completion> generate_all(CausalLM& model, const Tokenizer& tokenizer,
                                            const std::vector<std::vector<std::int64_t>>& prompts, const GenerationSettings& settings) {
  std::vector<PromptIds> list;
  for (std::size_t i = 0; i < prompts.size(); ++i) list.push_back({i, prompts[i]});
  std::vector<Completion> out;
  generate(model, tokenizer, list, settings, [&](std::vector<Completion>&& samples) {
    for (auto& c : samples) out.push_back(std::move(c));
  });
  std::sort(out.begin(), out.end(), [](const Completion& a, const Completion& b) {
    return a.prompt != b.prompt ? a.prompt < b.prompt : a.sample < b.sample;
  });
  return out;
}

}  // namespace cotrain::test
