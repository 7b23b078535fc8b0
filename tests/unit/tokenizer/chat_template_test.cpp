// Chat templates against transformers' apply_chat_template (scripts/reference/tokenizer_chat.py):
// identical text for every family, identical ids for the Qwen families; and the loss mask.
#include "cotrain/tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "loaded_tokenizers.h"

namespace cotrain {
namespace {

const std::filesystem::path kReference = std::filesystem::path(COTRAIN_BINARY_DIR) / "reference" / "tokenizer_chat" / "chat.jsonl";

std::vector<ChatMessage> messages_of(const nlohmann::json& row) {
  std::vector<ChatMessage> messages;
  for (const auto& m : row["messages"]) messages.push_back({m["role"], m["content"]});
  return messages;
}

TEST(ChatTemplate, TextAndIdsEqualTransformers) {
  COTRAIN_SHARED_FILE(qwen25, "tokenizers/qwen2.5/tokenizer.json");
  COTRAIN_SHARED_FILE(qwen3, "tokenizers/qwen3/tokenizer.json");
  auto rows = read_jsonl(kReference);
  ASSERT_GE(rows.size(), 100u);
  std::set<std::string> families;
  std::size_t id_checks = 0;
  for (const auto& row : rows) {
    const std::string family = row["family"];
    families.insert(family);
    const auto messages = messages_of(row);
    const bool generation_prompt = row["add_generation_prompt"];
    ChatTemplate chat = ChatTemplate::by_name(family);
    EXPECT_EQ(chat.render_text(messages, generation_prompt), row["text"].get<std::string>()) << row.dump();
    if (!row.contains("ids")) continue;
    const Tokenizer& tokenizer = test::loaded_tokenizer(family == "qwen3" ? qwen3 : qwen25);
    const auto expected_ids = row["ids"].get<std::vector<TokenId>>();
    EXPECT_EQ(tokenizer.encode(row["text"].get<std::string>()), expected_ids);
    RenderOptions options;
    options.add_generation_prompt = generation_prompt;
    bool trains = std::any_of(messages.begin(), messages.end(), [](const auto& m) { return m.role == "assistant"; });
    if (!trains && !generation_prompt) {
      EXPECT_THROW(chat.render(tokenizer, messages, options), InputError);
      continue;
    }
    RenderedChat rendered = chat.render(tokenizer, messages, options);
    EXPECT_EQ(rendered.text, row["text"].get<std::string>());
    EXPECT_EQ(rendered.ids, expected_ids) << row.dump();
    EXPECT_EQ(rendered.mask.size(), rendered.ids.size());
    ++id_checks;
  }
  EXPECT_EQ(families, (std::set<std::string>{"qwen2.5", "qwen3", "llama3", "deepseek-r1"}));
  EXPECT_GE(id_checks, 50u);
}

// The decoded text of the masked tokens, runs joined with "|".
std::string masked_text(const Tokenizer& tokenizer, const RenderedChat& chat) {
  std::string out;
  std::vector<TokenId> run;
  for (std::size_t i = 0; i <= chat.ids.size(); ++i) {
    if (i < chat.ids.size() && chat.mask[i]) {
      run.push_back(chat.ids[i]);
    } else if (!run.empty()) {
      if (!out.empty()) out += "|";
      out += tokenizer.decode(run);
      run.clear();
    }
  }
  return out;
}

TEST(ChatTemplate, MaskCoversAssistantContentAndEndOfTurnOnly) {
  COTRAIN_SHARED_FILE(file, "tokenizers/qwen2.5/tokenizer.json");
  const Tokenizer& tokenizer = test::loaded_tokenizer(file);
  std::vector<ChatMessage> conversation = {{"user", "Factor 91."}, {"assistant", "91 = 7 × 13."}, {"user", "And 221?"}, {"assistant", "13 × 17"}};
  auto chat = ChatTemplate::by_name("qwen2.5").render(tokenizer, conversation);
  EXPECT_EQ(masked_text(tokenizer, chat), "91 = 7 × 13.<|im_end|>|13 × 17<|im_end|>");
  EXPECT_EQ(chat.ids.back(), tokenizer.token_to_id("\u010a"));  // the final "\n" ...
  EXPECT_EQ(chat.mask.back(), 0);                               // ... is not a target

  auto thinking = ChatTemplate::by_name("qwen3").render(tokenizer, {{"user", "2+2?"}, {"assistant", "<think>\nadd\n</think>\n\n4"}});
  EXPECT_EQ(masked_text(tokenizer, thinking), "<think>\nadd\n</think>\n\n4<|im_end|>");

  RenderOptions all;
  all.train_on_prompt = true;
  auto everything = ChatTemplate::by_name("qwen2.5").render(tokenizer, conversation, all);
  EXPECT_EQ(std::count(everything.mask.begin(), everything.mask.end(), 1), static_cast<long>(everything.ids.size()));
}

TEST(ChatTemplate, NoneTemplateIsRawTextWithAssistantMask) {
  COTRAIN_SHARED_FILE(file, "tokenizers/qwen3/tokenizer.json");
  const Tokenizer& tokenizer = test::loaded_tokenizer(file);
  auto chat = ChatTemplate::by_name("none").render(tokenizer, {{"user", "Question: 2+2?\n"}, {"assistant", "Answer: 4"}});
  EXPECT_EQ(chat.text, "Question: 2+2?\nAnswer: 4");
  EXPECT_EQ(chat.ids, tokenizer.encode(chat.text));
  EXPECT_EQ(masked_text(tokenizer, chat), "Answer: 4");
}

TEST(ChatTemplate, EmptyMaskIsAnError) {
  COTRAIN_SHARED_FILE(file, "tokenizers/qwen2.5/tokenizer.json");
  const Tokenizer& tokenizer = test::loaded_tokenizer(file);
  std::vector<ChatMessage> prompt_only = {{"system", "s"}, {"user", "Hello"}};
  EXPECT_THROW(ChatTemplate::by_name("qwen2.5").render(tokenizer, prompt_only), InputError);
  RenderOptions generate;
  generate.add_generation_prompt = true;  // an eval prompt is fine
  auto chat = ChatTemplate::by_name("qwen2.5").render(tokenizer, prompt_only, generate);
  EXPECT_TRUE(chat.text.ends_with("<|im_start|>assistant\n"));
}

TEST(ChatTemplate, UnknownNamesAndRolesAreErrors) {
  try {
    ChatTemplate::by_name("chatml");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2.5, qwen3, llama3, deepseek-r1, none"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ChatTemplate::by_name("qwen3").render_text({{"tool", "x"}}, false), InputError);
}

TEST(ChatTemplate, DetectsFromTokenizerConfig) {
  COTRAIN_SHARED_FILE(qwen25, "tokenizers/qwen2.5/tokenizer_config.json");
  COTRAIN_SHARED_FILE(qwen3, "tokenizers/qwen3");
  EXPECT_EQ(ChatTemplate::detect(qwen25).name(), "qwen2.5");
  EXPECT_EQ(ChatTemplate::detect(qwen3).name(), "qwen3");
  EXPECT_EQ(ChatTemplate::detect(qwen3 / "tokenizer.json").name(), "qwen3");
  auto dir = test::scratch_dir();
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "{{ messages[0].content }}"})";
  EXPECT_THROW(ChatTemplate::detect(dir), InputError);
}

// A chat_template of another type (a number, a list whose default entry holds a number) was a
// JSON type error: exit 1 with nlohmann's text and no file name.
TEST(ChatTemplate, MalformedChatTemplateFieldsNameTheFile) {
  auto dir = test::scratch_dir();
  for (const char* config : {R"({"chat_template": 7})", R"({"chat_template": [{"name": "default", "template": 7}]})",
                             R"({"chat_template": [{"name": 3}]})", R"([1, 2])", R"({"chat_template": 1e999})"}) {
    std::ofstream(dir / "tokenizer_config.json") << config;
    try {
      ChatTemplate::detect(dir);
      FAIL() << config << ": expected InputError";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).rfind((dir / "tokenizer_config.json").string() + ": ", 0), 0u) << config << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace cotrain
