// Byte-level BPE from a Hugging Face tokenizer.json (Qwen2/2.5/3, Llama-3, DeepSeek-R1-distill).
// Every setting is read from the file; anything this implementation does not do exactly as HF
// does is refused at load time with an InputError naming the field.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cotrain/tokenizer/added_tokens.h"
#include "cotrain/tokenizer/regex_split.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(const std::filesystem::path& tokenizer_json);
  ~BpeTokenizer() override;

  std::vector<TokenId> encode(std::string_view text, bool parse_special = true) const override;
  std::string decode(std::span<const TokenId> ids, bool skip_special = false) const override;
  std::vector<TokenId> add_special_tokens(std::vector<TokenId> ids) const override;
  std::string normalize(std::string_view text) const override;
  std::string token_bytes(TokenId id) const override;
  std::size_t vocab_size() const override { return token_text_.size(); }
  TokenId token_to_id(std::string_view token) const override;
  std::string id_to_token(TokenId id) const override;
  bool is_special(TokenId id) const override;
  std::size_t missing_byte_tokens() const override { return missing_bytes_; }
  std::uint64_t dropped_bytes() const override { return dropped_bytes_.load(std::memory_order_relaxed); }

 private:
  struct Merge {
    std::int32_t rank;
    TokenId id;
  };
  // (left, right) -> Merge in one flat open-addressing table: the lookup in BPE's inner loop.
  class MergeTable {
   public:
    void reserve(std::size_t n);
    void set(TokenId left, TokenId right, Merge merge);  // replaces an earlier entry for the pair
    const Merge* find(TokenId left, TokenId right) const;

   private:
    struct Slot {
      std::uint64_t key = kEmpty;
      Merge merge{};
    };
    static constexpr std::uint64_t kEmpty = ~0ull;
    std::size_t slot_of(std::uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }
    std::vector<Slot> slots_;
    int shift_ = 64;
  };
  struct WordCache;

  void load(const std::filesystem::path& file);
  void encode_plain(std::string_view text, bool parse_special, std::vector<TokenId>& out) const;
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;
  void merge_word(std::string_view word, std::vector<TokenId>& out) const;
  const Merge* find_merge(TokenId left, TokenId right) const;

  struct StringHash {  // lets string_views look up std::string keys without a copy
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using TokenMap = std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>>;
  TokenMap vocab_;  // model vocabulary, byte-level strings
  TokenMap added_;  // added tokens by content
  MergeTable merges_;
  std::array<TokenId, 256> byte_ids_{};  // -1: the vocabulary has no token for the byte
  std::size_t missing_bytes_ = 0;
  mutable std::atomic<std::uint64_t> dropped_bytes_{0};
  std::vector<std::string> token_text_;   // id -> vocabulary string ("" for unused ids)
  std::vector<std::string> token_bytes_;  // id -> decoded bytes
  std::vector<std::uint8_t> special_;
  bool nfc_ = false;
  bool ignore_merges_ = false;
  std::vector<RegexSplit> splits_;  // applied in order, each to the pieces of the previous one
  // Added tokens matched in raw text and, for those marked "normalized", in normalised text;
  // [1] holds only the non-special ones (used when special tokens are plain text).
  std::array<AddedTokenMatcher, 2> raw_matchers_, normalized_matchers_;
  std::vector<TokenId> prefix_ids_, suffix_ids_;  // added by the post-processor
  std::unique_ptr<WordCache> cache_;
};

}  // namespace cotrain
