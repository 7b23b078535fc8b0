#include "cotrain/core/jsonl.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"

namespace cotrain {
namespace {

std::filesystem::path write_file(const std::filesystem::path& dir, const std::string& text) {
  auto path = dir / "in.jsonl";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(Jsonl, ReadsLinesSkippingBlanksAndCRLF) {
  auto path = write_file(test::scratch_dir(), "{\"a\":1}\r\n\n  \n[2,3]\n\"x\"");
  std::vector<std::size_t> lines;
  std::vector<nlohmann::json> values;
  for_each_jsonl(path, [&](nlohmann::json& v, std::size_t line) {
    values.push_back(v);
    lines.push_back(line);
  });
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0]["a"], 1);
  EXPECT_EQ(values[1][1], 3);
  EXPECT_EQ(values[2], "x");
  EXPECT_EQ(lines, (std::vector<std::size_t>{1, 4, 5}));
}

TEST(Jsonl, BadLineNamesFileAndLine) {
  auto path = write_file(test::scratch_dir(), "{\"a\":1}\n{\"a\":\n");
  try {
    read_jsonl(path);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path.string() + ":2: bad JSON", 0), 0u) << e.what();
  }
}

TEST(Jsonl, MissingFileIsInputError) {
  EXPECT_THROW(read_jsonl("/nonexistent/x.jsonl"), InputError);
}

}  // namespace
}  // namespace cotrain
