// cotrain tokenize: JSONL text -> ids (as HF's tokenizer(text)), conversations -> ids + loss mask,
// or ids -> text with --decode. Rows are read first, then tokenised on --threads threads.
#include <fmt/ranges.h>

#include <optional>

#include "commands.h"
#include "cotrain/core/atomic_file.h"
#include "cotrain/core/error.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/tokenizer/chat_template.h"
#include "cotrain/core/parallel.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain::cli {
namespace {

using nlohmann::json;

struct TokenizeArgs {
  std::string tokenizer, input, out = "-", template_name;
  int threads = 0;
  bool chat = false, decode = false, skip_special = false, special_as_text = false;
};

// One input row turned into the value to write; a bad row throws InputError (without its place).
using RowFn = std::function<json(const json& row)>;

std::vector<ChatMessage> read_messages(const json& row) {
  if (!row.is_object() || !row.contains("messages") || !row["messages"].is_array()) fail_input("missing array field \"messages\"");
  std::vector<ChatMessage> messages;
  for (const auto& m : row["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") || !m["content"].is_string()) {
      fail_input("message {} needs string fields \"role\" and \"content\"", messages.size());
    }
    messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return messages;
}

RowFn row_function(const TokenizeArgs& args, const Tokenizer& tokenizer, const std::optional<ChatTemplate>& chat) {
  if (args.decode) {
    return [&](const json& row) {
      if (!row.is_object() || !row.contains("ids") || !row["ids"].is_array()) fail_input("missing array field \"ids\"");
      std::vector<TokenId> ids;
      for (const auto& id : row["ids"]) {
        // get<TokenId> of 4294967297 would wrap to 1: check the range on the 64-bit value first.
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > INT32_MAX ||
            (id.is_number_unsigned() && id.get<std::uint64_t>() > INT32_MAX)) {
          fail_input("ids[{}] = {} is not a token id", ids.size(), id.dump());
        }
        ids.push_back(id.get<TokenId>());
      }
      return json{{"text", tokenizer.decode(ids, args.skip_special)}};
    };
  }
  if (chat) {
    return [&](const json& row) {
      RenderedChat rendered = chat->render(tokenizer, read_messages(row));
      return json{{"ids", rendered.ids}, {"mask", rendered.mask}};
    };
  }
  return [&](const json& row) {
    if (!row.is_object() || !row.contains("text") || !row["text"].is_string()) fail_input("missing string field \"text\"");
    const std::string& text = row["text"].get_ref<const std::string&>();
    return json{{"ids", tokenizer.add_special_tokens(tokenizer.encode(text, !args.special_as_text))}};
  };
}

void run_tokenize(const TokenizeArgs& args) {
  if (args.chat && args.decode) fail_input("--chat and --decode cannot be combined");
  if (!args.template_name.empty() && !args.chat) fail_input("--template needs --chat");
  if (args.special_as_text && (args.chat || args.decode)) fail_input("--special-as-text applies to {{\"text\"}} rows only");
  auto tokenizer = Tokenizer::load(args.tokenizer);
  std::optional<ChatTemplate> chat;
  if (args.chat) chat = ChatTemplate::for_tokenizer(args.tokenizer, args.template_name);

  std::vector<json> rows;
  std::vector<std::size_t> lines;
  for_each_jsonl(args.input, [&](json& row, std::size_t line) {
    rows.push_back(std::move(row));
    lines.push_back(line);
  });
  RowFn fn = row_function(args, *tokenizer, chat);
  std::vector<json> results(rows.size());
  std::vector<std::string> errors(rows.size());
  parallel_for(rows.size(), args.threads, [&](std::size_t i) {
    try {
      results[i] = fn(rows[i]);
    } catch (const InputError& e) {
      errors[i] = e.what();
    }
  });
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!errors[i].empty()) fail_input("{}: {}", where(args.input, lines[i]), errors[i]);
  }
  OutputSink sink(args.out);
  for (const auto& result : results) sink.stream() << result.dump() << '\n';
  sink.commit();
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand("tokenize", "JSONL {\"text\"} -> {\"ids\"}; --chat {\"messages\"} -> {\"ids\", \"mask\"}; --decode {\"ids\"} -> {\"text\"}");
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer.json, sentencepiece .model, or a model directory")->required();
  cmd->add_option("--input", args->input, "JSONL file (- for stdin)")->required();
  cmd->add_option("--out", args->out, "output JSONL (written only when complete; - for stdout)")->capture_default_str();
  cmd->add_option("--threads", args->threads, "threads (0 = all cores)")->check(at_least(0))->capture_default_str();
  cmd->add_flag("--chat", args->chat, "rows are conversations {\"messages\": [{\"role\", \"content\"}]}: render a chat template");
  cmd->add_option("--template", args->template_name,
                  fmt::format("chat template: {} or auto (the default: the tokenizer's, from chat_template.jinja or tokenizer_config.json)",
                              fmt::join(ChatTemplate::known_names(), ", ")));
  cmd->add_flag("--decode", args->decode, "rows are {\"ids\": [...]}: write {\"text\"}");
  cmd->add_flag("--skip-special", args->skip_special, "with --decode: leave special tokens out of the text");
  cmd->add_flag("--special-as-text", args->special_as_text, "encode special tokens written in the text (\"<|im_end|>\") as plain text");
  cmd->callback([args] { run_tokenize(*args); });
}

}  // namespace cotrain::cli
