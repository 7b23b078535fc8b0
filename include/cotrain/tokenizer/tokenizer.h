// Text <-> token ids with exactly Hugging Face's results. One interface, two back ends:
// tokenizer.json byte-level BPE (Qwen2/2.5/3, Llama-3, DeepSeek-R1-distill) and sentencepiece
// .model files (Llama-2, Mistral). No torch here.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cotrain {

using TokenId = std::int32_t;

// The files Tokenizer::load(PATH) reads ids from: PATH itself, or a model directory's tokenizer.json
// and/or tokenizer.model (when both are there, load takes tokenizer.json if it can and the .model
// otherwise). Anything that caches token ids keys on all of them.
std::vector<std::filesystem::path> tokenizer_files(const std::filesystem::path& path);

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // PATH is a tokenizer.json, a sentencepiece .model, or a model directory holding one of them.
  // Unsupported or malformed settings throw InputError naming the file and field.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& path);

  // parse_special: added tokens written in the text (e.g. "<|im_end|>") become their ids, as HF
  // does by default; false treats them as plain text.
  virtual std::vector<TokenId> encode(std::string_view text, bool parse_special = true) const = 0;
  // Invalid UTF-8 in the decoded bytes becomes U+FFFD.
  virtual std::string decode(std::span<const TokenId> ids, bool skip_special = false) const = 0;

  // Same results as encode() on each text, on `threads` threads (0 = all cores).
  std::vector<std::vector<TokenId>> encode_batch(const std::vector<std::string>& texts, int threads,
                                                 bool parse_special = true) const;

  // What HF's post-processor adds around one encoded sequence (Llama-3's <|begin_of_text|>,
  // Llama-2's <s>); Qwen adds nothing. encode() followed by this equals HF's encode(text) with
  // add_special_tokens=True.
  virtual std::vector<TokenId> add_special_tokens(std::vector<TokenId> ids) const { return ids; }

  // TEXT as the model sees it before splitting (NFC for Qwen; unchanged when the tokenizer has no
  // normaliser). encode(normalize(x)) == encode(x).
  virtual std::string normalize(std::string_view text) const { return std::string(text); }

  // The exact bytes a token stands for in decoded text (no U+FFFD repair; may be part of a
  // UTF-8 character). Used to find where tokens fall in rendered text.
  virtual std::string token_bytes(TokenId id) const = 0;

  virtual std::size_t vocab_size() const = 0;  // including added tokens
  virtual TokenId token_to_id(std::string_view token) const = 0;  // -1 when absent
  virtual std::string id_to_token(TokenId id) const = 0;          // "" when absent
  virtual bool is_special(TokenId id) const = 0;

  // Bytes the vocabulary has no token for (some byte-level BPE vocabularies lack a few), and how
  // many such bytes encode() has dropped so far, as HF tokenizers drops them.
  virtual std::size_t missing_byte_tokens() const { return 0; }
  virtual std::uint64_t dropped_bytes() const { return 0; }
};

}  // namespace cotrain
