// llama.cpp's 46 Qwen2 tokenizer vectors (shared/tokenizers/vectors): strings and the exact ids.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/shared_data.h"
#include "loaded_tokenizers.h"

namespace cotrain {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(LlamaCppVectors, Qwen2IdsMatchExactly) {
  COTRAIN_SHARED_FILE(inputs_file, "tokenizers/vectors/qwen2.inp");
  COTRAIN_SHARED_FILE(outputs_file, "tokenizers/vectors/qwen2.out");
  COTRAIN_SHARED_FILE(tokenizer_file, "tokenizers/qwen2.5/tokenizer.json");
  const Tokenizer& tokenizer = test::loaded_tokenizer(tokenizer_file);

  const std::string separator = "\n__ggml_vocab_test__\n";
  std::string all = read_all(inputs_file);
  std::vector<std::string> inputs;
  for (std::size_t start = 0;;) {
    auto end = all.find(separator, start);
    if (end == std::string::npos) break;
    inputs.push_back(all.substr(start, end - start));
    start = end + separator.size();
  }
  std::ifstream outputs(outputs_file);
  std::vector<std::vector<TokenId>> expected;
  for (std::string line; std::getline(outputs, line);) {
    std::istringstream ids(line);
    expected.emplace_back(std::istream_iterator<TokenId>(ids), std::istream_iterator<TokenId>());
  }
  ASSERT_EQ(inputs.size(), 46u);
  ASSERT_EQ(expected.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(tokenizer.encode(inputs[i]), expected[i]) << "vector " << i << ": \"" << inputs[i] << "\"";
  }
}

}  // namespace
}  // namespace cotrain
