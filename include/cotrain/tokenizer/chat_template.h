// Conversations -> text and ids with a per-token loss mask, byte-identical to transformers'
// apply_chat_template for the supported families.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

struct ChatMessage {
  std::string role;  // system, user or assistant
  std::string content;
};

struct RenderedChat {
  std::string text;                 // the rendered template text (what apply_chat_template gives)
  std::vector<TokenId> ids;
  std::vector<std::uint8_t> mask;   // 1 where the token is a training target
};

struct RenderOptions {
  bool add_generation_prompt = false;  // append the assistant header (for generation/eval)
  bool train_on_prompt = false;        // mask = 1 on every token, not only assistant turns
};

class ChatTemplate {
 public:
  // The registry of template names (what --template accepts): qwen2.5, qwen3, llama3, deepseek-r1,
  // chatml, none. by_name of anything else is an InputError listing them.
  static const std::vector<std::string>& known_names();
  static ChatTemplate by_name(const std::string& name);
  // From the model's Jinja template: chat_template.jinja beside tokenizer_config.json (where
  // transformers >= 4.43 saves it), else tokenizer_config.json's chat_template. PATH is a model or
  // tokenizer directory, or a file in one.
  static ChatTemplate detect(const std::filesystem::path& path);
  // The template for the tokenizer at TOKENIZER (a file or a model directory): NAME when given,
  // else (NAME "" or "auto") detect(TOKENIZER). The one lookup every command uses.
  static ChatTemplate for_tokenizer(const std::filesystem::path& tokenizer, const std::string& name = "");

  const std::string& name() const { return name_; }
  std::string render_text(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // A conversation whose mask would be all zeros (no assistant content) throws InputError, unless
  // options.add_generation_prompt is set (a prompt for generation is not a training sample).
  // Roles other than system, user and assistant throw InputError.
  RenderedChat render(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                      const RenderOptions& options = {}) const;

 private:
  explicit ChatTemplate(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

}  // namespace cotrain
