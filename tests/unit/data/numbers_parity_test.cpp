// corrupt-digits finds the numbers Python's re finds with the paper's \b\d+(\.\d+)?\b
// (scripts/reference/data_reference.py, ASCII word boundaries) on 400 generated texts.
#include <gtest/gtest.h>

#include <fstream>

#include "cotrain/data/perturb.h"
#include "cotrain/data/reasoning.h"

namespace cotrain {
namespace {

TEST(NumbersParity, SameSpansAsPythonRegex) {
  auto path = std::filesystem::path(COTRAIN_BINARY_DIR) / "reference" / "data_reference" / "numbers.jsonl";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing " << path << " (run ctest: fixture reference.data_reference)";
  std::size_t rows = 0, numbers = 0;
  for (std::string line; std::getline(in, line); ++rows) {
    auto row = nlohmann::json::parse(line);
    std::string text = row["text"];
    std::vector<std::vector<std::size_t>> got;
    for (const TextRange& r : find_numbers(text)) got.push_back({r.begin, r.end});
    EXPECT_EQ(got, row["spans"].get<std::vector<std::vector<std::size_t>>>()) << text;
    numbers += got.size();

    // With probability 1 every number's digits are redrawn and nothing else moves.
    Rng rng(rows);
    std::string corrupted = corrupt_digits(text, 1.0, rng);
    ASSERT_EQ(corrupted.size(), text.size());
    std::vector<bool> in_number(text.size(), false);
    for (const auto& span : got) {
      for (std::size_t k = span[0]; k < span[1]; ++k) in_number[k] = text[k] != '.';
    }
    for (std::size_t k = 0; k < text.size(); ++k) {
      if (!in_number[k]) {
        EXPECT_EQ(corrupted[k], text[k]) << text;
      }
    }
  }
  EXPECT_EQ(rows, 400u);
  EXPECT_GT(numbers, 400u);
}

}  // namespace
}  // namespace cotrain
