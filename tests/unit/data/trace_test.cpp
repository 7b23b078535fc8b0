#include "cotrain/data/trace.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"

namespace cotrain {
namespace {

std::filesystem::path write_file(const std::string& text, const std::string& name = "traces.jsonl") {
  auto path = test::scratch_dir() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::vector<TraceRecord> read_all(const std::filesystem::path& path, TraceFormat format = TraceFormat::automatic) {
  std::vector<TraceRecord> records;
  for_each_trace(path, format, [&](TraceRecord& r) { records.push_back(std::move(r)); });
  return records;
}

std::string error_of(const std::filesystem::path& path, TraceFormat format = TraceFormat::automatic) {
  try {
    read_all(path, format);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(TraceReader, ReadsTheThreeShapesPerLine) {
  auto path = write_file(
      R"({"system": "S", "conversations": [{"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"}, {"from": "user", "value": "Q2"}, {"from": "assistant", "value": "A2"}]})"
      "\n"
      R"({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]})"
      "\n\n"
      R"({"prompt": "P", "response": "R", "system": "Y"})"
      "\n");
  auto records = read_all(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].format, TraceFormat::sharegpt);
  ASSERT_EQ(records[0].conversation.size(), 5u);
  EXPECT_EQ(records[0].conversation[0].role, "system");
  EXPECT_EQ(records[0].conversation[1].role, "user");
  EXPECT_EQ(records[0].conversation[2].role, "assistant");
  EXPECT_EQ(records[0].conversation[4].content, "A2");
  EXPECT_EQ(assistant_turns(records[0].conversation).size(), 2u);
  EXPECT_EQ(records[1].format, TraceFormat::openai);
  EXPECT_EQ(records[1].conversation.size(), 2u);
  EXPECT_EQ(records[2].format, TraceFormat::prompt_response);
  EXPECT_EQ(records[2].line, 4u);
  ASSERT_EQ(records[2].conversation.size(), 3u);
  EXPECT_EQ(records[2].conversation[0].content, "Y");
  EXPECT_EQ(records[2].conversation[1].content, "P");
  EXPECT_EQ(records[2].conversation[2].content, "R");
}

TEST(TraceReader, ReadsAJsonArrayWithTheLineOfEachElement) {
  auto path = write_file("[\n  {\"prompt\": \"a\", \"response\": \"b\"},\n  {\"prompt\": \"c [\\\"}\",\n   \"response\": \"d\"}\n]\n",
                         "traces.json");
  auto records = read_all(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].line, 2u);
  EXPECT_EQ(records[1].line, 3u);
  EXPECT_EQ(records[1].conversation[0].content, "c [\"}");
}

TEST(TraceReader, BadArrayElementIsNamedByItsLine) {
  auto path = write_file("[{\"prompt\": \"a\", \"response\": \"b\"},\n{\"prompt\": 3, \"response\": \"d\"}]", "t.json");
  EXPECT_EQ(error_of(path), path.string() + ":2: field 'prompt' is not a string");
}

TEST(TraceReader, ForcedFormatRejectsOtherShapes) {
  auto path = write_file(R"({"prompt": "P", "response": "R"})" "\n");
  EXPECT_EQ(error_of(path, TraceFormat::openai), path.string() + ":1: missing field 'messages'");
}

TEST(TraceReader, ErrorsNameFileLineAndReason) {
  struct Case {
    std::string line, reason;
  };
  std::vector<Case> cases = {
      {R"({"prompt": "P", "response": "R")", "bad JSON"},
      {R"({"prompt": "P"})", "missing field 'response'"},
      {R"({"messages": {"role": "user"}})", "field 'messages' is not an array"},
      {R"({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": 7}]})",
       "field 'messages[1].content' is not a string"},
      {R"({"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "  \n"}]})",
       "empty assistant turn (conversations[1].value)"},
      {R"({"conversations": [{"from": "bot", "value": "Q"}]})", "field 'conversations[0].from' is 'bot'"},
      {R"({"messages": [{"role": "user", "content": "Q"}]})", "no assistant turn"},
      {R"({"text": "x"})", "unknown record shape"},
      {R"([1, 2])", "record is not a JSON object"},
      {"{\"prompt\": \"P\xff\", \"response\": \"R\"}", "invalid UTF-8"},
      {"{\"prompt\": \"\xed\xa0\x80\", \"response\": \"R\"}", "invalid UTF-8"},  // a surrogate
  };
  for (const auto& c : cases) {
    auto path = write_file("{\"prompt\": \"ok\", \"response\": \"ok\"}\n" + c.line + "\n");
    std::string error = error_of(path);
    EXPECT_EQ(error.rfind(path.string() + ":2: " + c.reason, 0), 0u) << c.line << " -> " << error;
  }
}

TEST(TraceReader, SkipModeReportsEveryBadLineAndKeepsTheRest) {
  auto path = write_file("{\"prompt\": \"a\", \"response\": \"b\"}\nnot json\n{\"prompt\": 1}\n{\"prompt\": \"c\", \"response\": \"d\"}\n");
  std::vector<TraceRecord> records;
  std::vector<BadRecord> bad;
  for_each_trace(path, TraceFormat::automatic, [&](TraceRecord& r) { records.push_back(r); },
                 [&](const BadRecord& b) { bad.push_back(b); });
  ASSERT_EQ(records.size(), 2u);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].line, 2u);
  EXPECT_EQ(bad[0].text, "not json");
  EXPECT_EQ(bad[1].line, 3u);
  EXPECT_EQ(bad[1].reason, "field 'prompt' is not a string");
}

TEST(TraceReader, StoreConversationWritesTextBackInPlace) {
  auto path = write_file(R"({"id": 7, "system": "S", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]})" "\n");
  auto records = read_all(path);
  records[0].conversation[2].content = "B";
  store_conversation(records[0].json, records[0].format, records[0].conversation);
  EXPECT_EQ(records[0].json.dump(),
            R"({"id":7,"system":"S","conversations":[{"from":"human","value":"Q"},{"from":"gpt","value":"B"}]})");
}

TEST(TraceReader, FormatNames) {
  EXPECT_EQ(trace_format_from_name("prompt-response"), TraceFormat::prompt_response);
  EXPECT_THROW(trace_format_from_name("alpaca"), InputError);
}

}  // namespace
}  // namespace cotrain
