#include "cotrain/core/jsonl.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <functional>

#include "common/errors.h"
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

// Re-serialising (or destroying) 50k nested arrays overflowed the stack: nesting is bounded at
// parse time, for lines, whole files and callers that parse with callbacks.
TEST(Json, DeepNestingIsAnInputErrorNotACrash) {
  std::string deep(60000, '[');
  deep += std::string(60000, ']');
  auto path = write_file(test::scratch_dir(), "{\"a\": 1}\n" + deep + "\n");
  EXPECT_NE(test::input_error_of([&] { read_jsonl(path); }).find(":2: JSON nested deeper than 128 levels"), std::string::npos);
  EXPECT_NE(test::input_error_of([&] { read_json_file(path); }).find("nested deeper"), std::string::npos);
  std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_NO_THROW(parse_json(ok, "ok"));
  EXPECT_THROW(parse_json("[" + ok + "]", "one more"), InputError);
  EXPECT_NO_THROW(parse_json("\"[[[[\\\"[[[\"", "brackets in a string do not nest"));
}

TEST(Json, NumberOutOfRangeIsAnInputErrorNamingThePlace) {
  auto path = write_file(test::scratch_dir(), "{\"a\": 1e999}\n");
  EXPECT_EQ(test::input_error_of([&] { read_jsonl(path); }).rfind(path.string() + ":1: bad JSON (number overflow", 0), 0u);
}

TEST(Json, TypeErrorsNameTheirPlace) {
  nlohmann::json j = {{"a", {1, 2}}};
  std::string message = test::input_error_of([&] { with_json_errors("cfg.json", [&] { return j["a"].get<std::string>(); }); });
  EXPECT_EQ(message, "cfg.json: type must be string, but is array");
}

// A FIFO never ends (or never starts): refused at once instead of blocking.
TEST(InputFile, RefusesFifosDirectoriesAndLinkLoops) {
  auto dir = test::scratch_dir();
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  EXPECT_EQ(test::input_error_of([&] { read_jsonl(dir / "fifo"); }), (dir / "fifo").string() + ": is a FIFO, expected a regular file");
  EXPECT_EQ(test::input_error_of([&] { read_json_file(dir / "fifo"); }), (dir / "fifo").string() + ": is a FIFO, expected a regular file");
  EXPECT_EQ(test::input_error_of([&] { open_input_fd(dir / "fifo"); }), (dir / "fifo").string() + ": is a FIFO, expected a regular file");
  EXPECT_EQ(test::input_error_of([&] { read_jsonl(dir); }), dir.string() + ": is a directory, expected a regular file");
  std::filesystem::create_symlink("loop_b", dir / "loop_a");
  std::filesystem::create_symlink("loop_a", dir / "loop_b");
  EXPECT_EQ(test::input_error_of([&] { read_jsonl(dir / "loop_a"); }), (dir / "loop_a").string() + ": symbolic link loop");
  EXPECT_EQ(test::input_error_of([&] { read_input_file(""); }), "input path is empty");
}

TEST(InputFile, SizeLimitIsCheckedBeforeReading) {
  auto path = write_file(test::scratch_dir(), std::string(100, 'x'));
  EXPECT_EQ(read_input_file(path, 100).size(), 100u);
  EXPECT_NE(test::input_error_of([&] { read_input_file(path, 99); }).find("100 bytes, more than the 99 bytes"), std::string::npos);
}

}  // namespace
}  // namespace cotrain
