// The code_generation_lite loader against what Python's json/pickle/zlib/base64 decode from the
// same rows (scripts/reference/lcb_fixtures.py), and its filters.
#include "cotrain/eval/code/problems.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/eval/code/compressed_tests.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixtures = fs::path(COTRAIN_BINARY_DIR) / "reference" / "lcb_fixtures";

void expect_same_tests(const std::vector<CodeTest>& got, const json& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].input, want[i]["input"].get<std::string>()) << what << "[" << i << "]";
    EXPECT_EQ(got[i].output, want[i]["output"].get<std::string>()) << what << "[" << i << "]";
    EXPECT_EQ(got[i].functional, want[i]["testtype"] == "functional") << what << "[" << i << "]";
  }
}

TEST(LoadProblems, DecodesEveryFieldLikePython) {
  std::vector<CodeProblem> problems = load_problems(kFixtures / "problems.jsonl");
  json expected = read_json_file(kFixtures / "expected_tests.json");
  std::vector<json> rows = read_jsonl(kFixtures / "problems.jsonl");
  ASSERT_EQ(problems.size(), rows.size());
  for (std::size_t i = 0; i < problems.size(); ++i) {
    const CodeProblem& p = problems[i];
    const json& row = rows[i];
    const json& want = expected.at(p.question_id);
    EXPECT_EQ(p.question_title, row["question_title"]);
    EXPECT_EQ(p.question_content, row["question_content"]);
    EXPECT_EQ(p.platform, row["platform"]);
    EXPECT_EQ(p.contest_id, row["contest_id"]);
    EXPECT_EQ(p.contest_date, row["contest_date"]);
    EXPECT_EQ(p.starter_code, row["starter_code"]);
    EXPECT_EQ(p.difficulty, row["difficulty"]);
    EXPECT_EQ(p.func_name, want["func_name"].is_null() ? "" : want["func_name"].get<std::string>());
    expect_same_tests(p.public_tests, want["public"], p.question_id + " public");
    expect_same_tests(p.private_tests, want["private"], p.question_id + " private");
  }
}

TEST(LoadProblems, FiltersByReleaseDateDifficultyPlatform) {
  auto ids = [](const std::vector<CodeProblem>& ps) {
    std::vector<std::string> out;
    for (const auto& p : ps) out.push_back(p.question_id);
    return out;
  };
  fs::path data = kFixtures / "problems.jsonl";
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(load_problems(data, {"v2", "", "", {}, {}})), (V{"fx_sum", "fx_twosum"}));
  EXPECT_EQ(ids(load_problems(data, {"v1", "", "", {}, {}})), (V{"fx_sum"}));
  EXPECT_EQ(ids(load_problems(data, {"v6", "", "", {}, {}})), (V{"fx_sum", "fx_twosum", "fx_half", "fx_proto2", "fx_proto3"}));
  EXPECT_EQ(ids(load_problems(data, {"", "2024-05-15", "2024-08-20", {}, {}})), (V{"fx_twosum", "fx_half"}));
  EXPECT_EQ(ids(load_problems(data, {"v4", "2024-01-01", "", {}, {}})), (V{"fx_twosum", "fx_half"}));
  EXPECT_EQ(ids(load_problems(data, {"", "", "", {"easy", "hard"}, {}})), (V{"fx_sum", "fx_half", "fx_proto2"}));
  EXPECT_EQ(ids(load_problems(data, {"", "", "", {}, {"leetcode"}})), (V{"fx_twosum"}));
  EXPECT_THROW(load_problems(data, {"v9", "", "", {}, {}}), InputError);
}

TEST(CompressedTests, RefusesEverythingButAPickledString) {
  json bad = read_json_file(kFixtures / "bad_pickles.json");
  ASSERT_EQ(bad.size(), 5u);
  for (auto& [name, text] : bad.items()) {
    try {
      decode_compressed_tests(text.get<std::string>());
      ADD_FAILURE() << name << " was accepted";
    } catch (const InputError& e) {
      EXPECT_TRUE(std::string(e.what()).find("pickle") != std::string::npos) << name << ": " << e.what();
    }
  }
  EXPECT_FALSE(fs::exists("/tmp/cotrain-pickle-canary"));
}

TEST(CompressedTests, BadBase64AndZlibAreInputErrors) {
  EXPECT_THROW(base64_decode("abc"), InputError);
  EXPECT_THROW(base64_decode("ab!d"), InputError);
  EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(base64_decode("aGVs\nbG8h"), "hello!");
  EXPECT_THROW(zlib_inflate("not zlib at all"), InputError);
  EXPECT_THROW(unpickle_string(std::string("\x80\x04\x8c\x05" "ab", 6)), InputError);  // truncated
}

TEST(LoadProblems, BadRowsNameFileLineAndField) {
  fs::path dir = test::scratch_dir();
  auto expect_error = [&](const std::string& line, const std::string& fragment) {
    fs::path file = dir / "bad.jsonl";
    std::ofstream(file) << "\n" << line << "\n";
    try {
      load_problems(file);
      ADD_FAILURE() << "accepted " << line;
    } catch (const InputError& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("bad.jsonl:2"), std::string::npos) << what;
      EXPECT_NE(what.find(fragment), std::string::npos) << what;
    }
  };
  std::string good_tests = R"("[{\"input\": \"1\", \"output\": \"1\", \"testtype\": \"stdin\"}]")";
  std::string base = R"("question_id": "q", "platform": "atcoder", "difficulty": "easy", "contest_date": "2024-01-01T00:00:00")";
  expect_error("{" + base + "}", "public_test_cases");
  expect_error(R"({"platform": "atcoder"})", "question_id");
  expect_error("{" + base + R"(, "public_test_cases": "[{\"input\": 1}]"})", "input");
  expect_error("{" + base + R"(, "public_test_cases": )" + good_tests + R"(, "private_test_cases": "eJzLSM3JyQcABiwCFQ=="})",
               "pickle");
  expect_error("{" + base + R"(, "public_test_cases": )" + good_tests + R"(, "metadata": "[1]"})", "metadata");
  expect_error("not json", "bad JSON");
  // A problem without tests used to pass every program.
  expect_error("{" + base + R"(, "public_test_cases": "[]"})", "has no test cases");
  expect_error("{" + base + R"(, "public_test_cases": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})",
               "nested deeper");
}

// A 1.9 MB zlib bomb in private_test_cases inflated to 1.5 GB: inflating stops at the limit.
TEST(CompressedTests, InflatingStopsAtTheLimit) {
  // After a full flush, deflate codes the same megabyte of zeros as the same bytes: the bomb is
  // the first block (with the zlib header) and then that block again and again. Inflating stops
  // at the limit, long before the (missing) checksum would matter.
  z_stream stream{};
  ASSERT_EQ(deflateInit(&stream, 9), Z_OK);
  std::string zeros(1 << 20, '\0');
  auto deflate_megabyte = [&] {
    std::string out(1 << 16, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(zeros.data());
    stream.avail_in = static_cast<uInt>(zeros.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&stream, Z_FULL_FLUSH), Z_OK);
    EXPECT_EQ(stream.avail_in, 0u);
    out.resize(out.size() - stream.avail_out);
    return out;
  };
  std::string bomb = deflate_megabyte(), block = deflate_megabyte();
  deflateEnd(&stream);
  for (std::size_t inflated = 1 << 20; inflated <= kMaxInflatedBytes; inflated += 1 << 20) bomb += block;
  ASSERT_LT(bomb.size(), 1u << 20);  // under a megabyte that would inflate past the limit
  try {
    zlib_inflate(bomb);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("inflates to more than"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cotrain
