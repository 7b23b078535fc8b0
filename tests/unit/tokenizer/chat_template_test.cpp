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
  EXPECT_EQ(families, (std::set<std::string>{"qwen2.5", "qwen3", "llama3", "deepseek-r1", "chatml"}));
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

// SkyThought's LLaMA-Factory `qwen25` (Sky-T1's training template). LLaMA-Factory tokenises each
// piece on its own and appends the replaced eos <|endoftext|> as an id; the whole-text encoding
// must give the same ids, and the targets are each answer and its <|endoftext|>.
TEST(ChatTemplate, SkyThoughtQwen25EndsAnswersWithEndOfText) {
  COTRAIN_SHARED_FILE(file, "tokenizers/qwen2.5/tokenizer.json");
  const Tokenizer& tokenizer = test::loaded_tokenizer(file);
  const std::string sys = "Your role as an assistant involves thoroughly exploring questions.";
  const std::string a1 = "<|begin_of_thought|>\n\n91 = 7 * 13.\n\n<|end_of_thought|>", a2 = "13 × 17";
  std::vector<ChatMessage> conversation = {{"system", sys}, {"user", "Factor 91."}, {"assistant", a1}, {"user", "And 221?"}, {"assistant", a2}};
  auto chat = ChatTemplate::by_name("qwen25").render(tokenizer, conversation);
  const std::string header = "<|im_start|>system\n" + sys + "<|im_end|>\n";
  EXPECT_EQ(chat.text, header + "<|im_start|>user\nFactor 91.<|im_end|>\n<|im_start|>assistant\n" + a1 + "<|endoftext|>" +
                           "\n<|im_start|>user\nAnd 221?<|im_end|>\n<|im_start|>assistant\n" + a2 + "<|endoftext|>");
  std::vector<TokenId> llama_factory;
  const TokenId eos = tokenizer.token_to_id("<|endoftext|>");
  for (const std::string& piece : {header, std::string("<|im_start|>user\nFactor 91.<|im_end|>\n<|im_start|>assistant\n"), a1,
                                   std::string("\n<|im_start|>user\nAnd 221?<|im_end|>\n<|im_start|>assistant\n"), a2}) {
    auto ids = tokenizer.encode(piece);
    llama_factory.insert(llama_factory.end(), ids.begin(), ids.end());
    if (piece == a1 || piece == a2) llama_factory.push_back(eos);
  }
  EXPECT_EQ(chat.ids, llama_factory);
  EXPECT_EQ(masked_text(tokenizer, chat), a1 + "<|endoftext|>|" + a2 + "<|endoftext|>");
  EXPECT_EQ(chat.ids.back(), eos);
  EXPECT_EQ(chat.mask.back(), 1);  // the end token is learned: it is how the model stops

  // No system message (or an empty one): Qwen's default system prompt, as LLaMA-Factory.
  auto plain = ChatTemplate::by_name("qwen25").render_text({{"user", "Hi"}, {"assistant", "Hello"}}, false);
  EXPECT_EQ(plain, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                   "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|endoftext|>");
  EXPECT_THROW(ChatTemplate::by_name("qwen25").render_text({{"user", "Hi"}, {"system", "late"}}, false), InputError);
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
    ChatTemplate::by_name("vicuna");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2.5, qwen25, qwen3, llama3, deepseek-r1, chatml, none"), std::string::npos) << e.what();
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
  EXPECT_EQ(ChatTemplate::for_tokenizer(qwen3, "auto").name(), "qwen3");
  EXPECT_EQ(ChatTemplate::for_tokenizer(qwen3).name(), "qwen3");
  EXPECT_EQ(ChatTemplate::for_tokenizer(qwen3 / "tokenizer.json").name(), "qwen3");
  EXPECT_EQ(ChatTemplate::for_tokenizer(qwen3, "llama3").name(), "llama3");
}

// transformers >= 4.43 writes the template to chat_template.jinja; it wins over tokenizer_config.json.
TEST(ChatTemplate, DetectsFromChatTemplateJinja) {
  COTRAIN_SHARED_FILE(qwen3, "tokenizers/qwen3/tokenizer_config.json");
  auto dir = test::scratch_dir();
  std::filesystem::copy_file(qwen3, dir / "tokenizer_config.json");
  EXPECT_EQ(ChatTemplate::detect(dir).name(), "qwen3");
  // SmolLM2's template: ChatML with a default system line of its own.
  std::ofstream(dir / "chat_template.jinja")
      << "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
         "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + "
         "message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
         "{{ '<|im_start|>assistant\n' }}{% endif %}";
  EXPECT_EQ(ChatTemplate::detect(dir).name(), "chatml");
  EXPECT_EQ(ChatTemplate::detect(dir / "tokenizer.json").name(), "chatml");
  EXPECT_EQ(ChatTemplate::for_tokenizer(dir / "tokenizer.json").name(), "chatml");
  std::ofstream(dir / "chat_template.jinja") << "{% for m in messages %}[{{ m.content }}]{% endfor %}";
  EXPECT_THROW(ChatTemplate::detect(dir), InputError);
}

TEST(ChatTemplate, ChatmlHasNoDefaultSystemTurn) {
  auto chatml = ChatTemplate::by_name("chatml");
  EXPECT_EQ(chatml.render_text({{"user", "Hi"}}, true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chatml.render_text({{"system", "S"}, {"user", "Hi"}, {"assistant", "Yo"}}, false),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n");
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
