// sentencepiece .model files (Llama-2, Mistral) through libsentencepiece.
#pragma once
#include <filesystem>
#include <memory>

#include "cotrain/tokenizer/added_tokens.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace cotrain {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& model);
  ~SentencePieceTokenizer() override;

  // With parse_special, control pieces written in the text ("<s>", "</s>") become their ids and
  // the text between them is encoded piece by piece; otherwise the whole text goes to sentencepiece.
  std::vector<TokenId> encode(std::string_view text, bool parse_special = true) const override;
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const override;
  std::vector<TokenId> add_special_tokens(std::vector<TokenId> ids) const override;  // BOS, as HF's LlamaTokenizer
  std::string token_bytes(TokenId id) const override;
  std::size_t vocab_size() const override;
  TokenId token_to_id(std::string_view token) const override;
  std::string id_to_token(TokenId id) const override;
  bool is_special(TokenId id) const override;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  AddedTokenMatcher control_matcher_;
};

}  // namespace cotrain
