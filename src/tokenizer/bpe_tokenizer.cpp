// Encoding and decoding. Loading (reading tokenizer.json) is in bpe_load.cpp.
#include "cotrain/tokenizer/bpe_tokenizer.h"

#include <mutex>
#include <queue>
#include <shared_mutex>

#include "cotrain/core/error.h"
#include "cotrain/tokenizer/unicode.h"

namespace cotrain {

// Words seen before (the same words recur throughout a corpus), shared by all threads.
// Sharded so that threads rarely wait on each other; a full shard stops growing.
struct BpeTokenizer::WordCache {
  static constexpr std::size_t kShards = 64, kShardCapacity = 8192, kMaxWordBytes = 256;
  using Hash = StringHash;
  struct Shard {
    std::shared_mutex mutex;
    std::unordered_map<std::string, std::vector<TokenId>, Hash, std::equal_to<>> words;
  };
  std::array<Shard, kShards> shards;

  bool lookup(std::string_view word, std::size_t hash, std::vector<TokenId>& out) {
    Shard& shard = shards[hash % kShards];
    std::shared_lock lock(shard.mutex);
    auto it = shard.words.find(word);
    if (it == shard.words.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void store(std::string_view word, std::size_t hash, std::span<const TokenId> ids) {
    Shard& shard = shards[hash % kShards];
    std::unique_lock lock(shard.mutex);
    if (shard.words.size() < kShardCapacity) shard.words.emplace(word, std::vector<TokenId>(ids.begin(), ids.end()));
  }
};

BpeTokenizer::BpeTokenizer(const std::filesystem::path& tokenizer_json) : cache_(std::make_unique<WordCache>()) {
  load(tokenizer_json);
}

BpeTokenizer::~BpeTokenizer() = default;

void BpeTokenizer::MergeTable::reserve(std::size_t n) {
  int bits = 4;
  while ((std::size_t{1} << bits) < 2 * n) ++bits;  // at most half full
  slots_.assign(std::size_t{1} << bits, Slot{});
  shift_ = 64 - bits;
}

void BpeTokenizer::MergeTable::set(TokenId left, TokenId right, Merge merge) {
  std::uint64_t key = static_cast<std::uint64_t>(left) << 32 | static_cast<std::uint32_t>(right);
  for (std::size_t i = slot_of(key);; i = (i + 1) & (slots_.size() - 1)) {
    if (slots_[i].key == key || slots_[i].key == kEmpty) {
      slots_[i] = {key, merge};
      return;
    }
  }
}

const BpeTokenizer::Merge* BpeTokenizer::MergeTable::find(TokenId left, TokenId right) const {
  std::uint64_t key = static_cast<std::uint64_t>(left) << 32 | static_cast<std::uint32_t>(right);
  for (std::size_t i = slot_of(key);; i = (i + 1) & (slots_.size() - 1)) {
    if (slots_[i].key == key) return &slots_[i].merge;
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

const BpeTokenizer::Merge* BpeTokenizer::find_merge(TokenId left, TokenId right) const {
  return merges_.find(left, right);
}

std::vector<TokenId> BpeTokenizer::encode(std::string_view text, bool parse_special) const {
  std::string storage;
  text = unicode::valid_utf8(text, storage);
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  raw_matchers_[parse_special ? 0 : 1].visit(
      text, [&](TokenId id, std::string_view) { out.push_back(id); },
      [&](std::string_view run) { encode_plain(run, parse_special, out); });
  return out;
}

void BpeTokenizer::encode_plain(std::string_view text, bool parse_special, std::vector<TokenId>& out) const {
  std::string normalized;
  if (nfc_) {
    normalized = unicode::nfc(text);
    text = normalized;
  }
  std::vector<std::string_view> pieces, next;
  normalized_matchers_[parse_special ? 0 : 1].visit(
      text, [&](TokenId id, std::string_view) { out.push_back(id); },
      [&](std::string_view run) {
        pieces.assign(1, run);
        for (const auto& split : splits_) {
          next.clear();
          for (auto piece : pieces) split.split(piece, next);
          pieces.swap(next);
        }
        for (auto word : pieces) encode_word(word, out);
      });
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (missing_bytes_ > 0) {
    std::uint64_t dropped = 0;
    for (unsigned char b : word) dropped += byte_ids_[b] < 0;
    if (dropped) dropped_bytes_.fetch_add(dropped, std::memory_order_relaxed);
  }
  if (word.size() == 1) {
    if (TokenId id = byte_ids_[static_cast<unsigned char>(word[0])]; id >= 0) out.push_back(id);
    return;
  }
  bool cacheable = word.size() <= WordCache::kMaxWordBytes;
  std::size_t hash = cacheable ? WordCache::Hash{}(word) : 0;
  if (cacheable && cache_->lookup(word, hash, out)) return;
  std::size_t first = out.size();
  merge_word(word, out);
  if (cacheable) cache_->store(word, hash, std::span<const TokenId>(out).subspan(first));
}

// HF's BPE: start from one symbol per byte and repeatedly apply the lowest-ranked merge among
// adjacent pairs (leftmost on ties), with a heap of candidate merges that are re-checked when popped.
void BpeTokenizer::merge_word(std::string_view word, std::vector<TokenId>& out) const {
  if (ignore_merges_) {  // a word that is itself in the vocabulary is one token
    std::string chars;
    for (unsigned char b : word) chars += unicode::byte_to_char()[b];
    if (auto it = vocab_.find(chars); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Symbol {
    TokenId id;
    int prev, next;
    bool alive;
  };
  struct Candidate {
    std::int32_t rank;
    int pos;
    TokenId id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  // One symbol per byte; a byte without a token is left out, so its neighbours become adjacent (HF).
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (unsigned char b : word) {
    if (byte_ids_[b] >= 0) symbols.push_back({byte_ids_[b], 0, 0, true});
  }
  const int n = static_cast<int>(symbols.size());
  if (n == 0) return;
  for (int i = 0; i < n; ++i) symbols[i].prev = i - 1, symbols[i].next = i + 1 < n ? i + 1 : -1;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  for (int i = 0; i + 1 < n; ++i) {
    if (const Merge* m = find_merge(symbols[i].id, symbols[i + 1].id)) heap.push({m->rank, i, m->id});
  }
  while (!heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const Merge* m = find_merge(left.id, right.id);
    if (!m || m->id != top.id) continue;  // stale: a neighbour changed since this was pushed
    left.id = m->id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) {
      if (const Merge* p = find_merge(symbols[left.prev].id, left.id)) heap.push({p->rank, left.prev, p->id});
    }
    if (left.next >= 0) {
      if (const Merge* p = find_merge(left.id, symbols[left.next].id)) heap.push({p->rank, top.pos, p->id});
    }
  }
  for (int i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

std::string BpeTokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  std::string bytes;
  for (TokenId id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= token_bytes_.size()) {
      fail_input("token id {} out of range (vocabulary size {})", id, token_bytes_.size());
    }
    if (skip_special && special_[id]) continue;
    bytes += token_bytes_[id];
  }
  if (!unicode::is_valid_utf8(bytes)) bytes = unicode::repair_utf8(bytes);
  return bytes;
}

std::vector<TokenId> BpeTokenizer::add_special_tokens(std::vector<TokenId> ids) const {
  ids.insert(ids.begin(), prefix_ids_.begin(), prefix_ids_.end());
  ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

std::string BpeTokenizer::normalize(std::string_view text) const {
  std::string storage;
  text = unicode::valid_utf8(text, storage);
  if (!nfc_) return std::string(text);
  std::string out;
  raw_matchers_[0].visit(
      text, [&](TokenId, std::string_view token) { out += token; },
      [&](std::string_view run) { out += unicode::nfc(run); });
  return out;
}

std::string BpeTokenizer::token_bytes(TokenId id) const {
  return id >= 0 && static_cast<std::size_t>(id) < token_bytes_.size() ? token_bytes_[id] : std::string();
}

TokenId BpeTokenizer::token_to_id(std::string_view token) const {
  if (auto it = added_.find(token); it != added_.end()) return it->second;
  if (auto it = vocab_.find(token); it != vocab_.end()) return it->second;
  return -1;
}

std::string BpeTokenizer::id_to_token(TokenId id) const {
  return id >= 0 && static_cast<std::size_t>(id) < token_text_.size() ? token_text_[id] : std::string();
}

bool BpeTokenizer::is_special(TokenId id) const {
  return id >= 0 && static_cast<std::size_t>(id) < special_.size() && special_[id];
}

}  // namespace cotrain
