// The real Qwen tokenizers from shared/, loaded once per test binary (a load takes a moment).
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain::test {

inline const Tokenizer& loaded_tokenizer(const std::filesystem::path& file) {
  static std::map<std::filesystem::path, std::unique_ptr<Tokenizer>> loaded;
  auto& slot = loaded[file];
  if (!slot) slot = Tokenizer::load(file);
  return *slot;
}

}  // namespace cotrain::test
