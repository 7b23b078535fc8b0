// Reading tokenizer.json into a BpeTokenizer. Each section is checked against what encode()
// implements; any other setting is refused, naming its field, rather than approximated.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/core/jsonl.h"
#include "cotrain/tokenizer/bpe_tokenizer.h"
#include "cotrain/tokenizer/unicode.h"

namespace cotrain {

using nlohmann::json;

namespace {

// Normalizer, pre-tokenizer and post-processor steps at most: real tokenizers have a handful;
// each pre-tokenizer step is a compiled regex run over all text.
constexpr std::size_t kMaxSteps = 64;

// GPT-2's split, used by a ByteLevel pre-tokenizer with use_regex true.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct Fields {
  std::string file;

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    fail_input("{}: {} {}", file, field, what);
  }
  // A non-negative token id that fits TokenId.
  TokenId id(const json& value, const std::string& field) const {
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 || value.get<std::int64_t>() > INT32_MAX) {
      fail(field, fmt::format("is not a token id ({})", value.dump()));
    }
    return value.get<TokenId>();
  }
  const std::string& string(const json& value, const std::string& field) const {
    if (!value.is_string()) fail(field, "is not a string");
    return value.get_ref<const std::string&>();
  }
  const json& array(const json& value, const std::string& field) const {
    if (!value.is_array()) fail(field, "is not an array");
    return value;
  }
  const json& need(const json& parent, const std::string& key, const std::string& field) const {
    if (!parent.is_object() || !parent.contains(key)) fail(field, "missing");
    return parent.at(key);
  }
  std::string type_of(const json& node, const std::string& field) const {
    const json& type = need(node, "type", field + ".type");
    if (!type.is_string()) fail(field + ".type", "is not a string");
    return type.get<std::string>();
  }
  // True when KEY is absent, null, or equal to ALLOWED; otherwise refuses the setting.
  void require(const json& node, const std::string& key, const json& allowed, const std::string& field) const {
    if (!node.contains(key) || node[key].is_null() || node[key] == allowed) return;
    fail(field + "." + key, fmt::format("= {} is not supported (only {})", node[key].dump(), allowed.dump()));
  }
  bool flag(const json& node, const std::string& key, const std::string& field) const {
    if (!node.contains(key) || node[key].is_null()) return false;
    if (!node[key].is_boolean()) fail(field + "." + key, "is not true/false");
    return node[key].get<bool>();
  }
};

// model.vocab and model.merges, taken out of the JSON tree while parsing: building and freeing
// ~300k tree nodes (a std::map for the vocabulary) was most of the load time.
struct VocabAndMerges {
  std::vector<std::pair<std::string, json>> vocab;  // in file order
  std::vector<json> merges;                         // in file order: "a b" or ["a", "b"]
  std::string vocab_key_with_container;              // a vocab entry whose value is an object/array
};

// Builds the JSON tree from nlohmann's SAX events, except model.vocab's entries and model.merges'
// elements, which go to VocabAndMerges. (nlohmann's callback parser does the same job but scans
// an array's elements each time one of its objects ends: quadratic in the number of added tokens,
// 43 s for 400k.)
class TokenizerSax : public nlohmann::json_sax<json> {
 public:
  explicit TokenizerSax(VocabAndMerges& taken) : taken_(taken) {}
  json root;

  bool null() override { return add(nullptr); }
  bool boolean(bool v) override { return add(v); }
  bool number_integer(number_integer_t v) override { return add(v); }
  bool number_unsigned(number_unsigned_t v) override { return add(v); }
  bool number_float(number_float_t v, const string_t&) override { return add(v); }
  bool string(string_t& v) override { return add(std::move(v)); }
  bool binary(binary_t& v) override { return add(json::binary(std::move(v))); }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    if (skip_ > 0) return true;
    if (stack_.size() == 1) section_ = k, field_.clear();
    if (stack_.size() == 2) field_ = k;
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    error = e.id == 406 ? json_error_text(e) : fmt::format("byte {}", position);  // 406: a number out of range
    return false;
  }
  std::string error;  // why parsing stopped

 private:
  // Inside model.vocab (an entry) or model.merges (an element): three containers deep.
  bool in_vocab() const { return stack_.size() == 3 && section_ == "model" && field_ == "vocab"; }
  bool in_merges() const { return stack_.size() == 3 && section_ == "model" && field_ == "merges"; }

  json* place(json value) {
    if (in_vocab()) {
      taken_.vocab.emplace_back(key_, std::move(value));
      return &taken_.vocab.back().second;
    }
    if (in_merges()) return &taken_.merges.emplace_back(std::move(value));
    if (stack_.empty()) return &(root = std::move(value));
    json& top = *stack_.back();
    if (top.is_array()) return &top.emplace_back(std::move(value));
    return &(top[key_] = std::move(value));
  }
  bool add(json value) {
    if (skip_ == 0) place(std::move(value));
    return true;
  }
  bool open(json container) {
    if (skip_ > 0 || in_vocab()) {  // a vocab entry that is an object or array: noted, then ignored
      if (skip_++ == 0) taken_.vocab_key_with_container = key_;
      return true;
    }
    stack_.push_back(place(std::move(container)));
    return true;
  }
  bool close() {
    if (skip_ > 0) --skip_;
    else stack_.pop_back();
    return true;
  }

  VocabAndMerges& taken_;
  std::vector<json*> stack_;
  std::string section_, field_, key_;
  int skip_ = 0;
};

json parse_tokenizer_json(const std::filesystem::path& file, VocabAndMerges& taken) {
  // Parsing from memory is several times faster than from a stream.
  const std::string text = read_input_file(file, kMaxTokenizerFileBytes);
  check_json_depth(text, file.string());
  TokenizerSax sax(taken);
  if (!json::sax_parse(text, &sax)) fail_input("{}: bad JSON ({})", file.string(), sax.error);
  return std::move(sax.root);
}

}  // namespace

void BpeTokenizer::load(const std::filesystem::path& file) {
  const Fields f{file.string()};
  VocabAndMerges taken;
  const json root = parse_tokenizer_json(file, taken);
  if (!root.is_object()) f.fail("top level", "is not a JSON object");
  for (const char* key : {"truncation", "padding"}) {
    if (root.contains(key) && !root[key].is_null()) f.fail(key, "is set (not supported; must be null)");
  }

  // model
  const json& model = f.need(root, "model", "model");
  if (f.type_of(model, "model") != "BPE") f.fail("model.type", fmt::format("\"{}\" is not supported (only BPE)", f.type_of(model, "model")));
  f.require(model, "byte_fallback", false, "model");
  f.require(model, "continuing_subword_prefix", "", "model");
  f.require(model, "end_of_word_suffix", "", "model");
  if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"] != 0.0) {
    f.fail("model.dropout", "is set (BPE dropout is not supported)");
  }
  ignore_merges_ = f.flag(model, "ignore_merges", "model");
  const json& vocab = f.need(model, "vocab", "model.vocab");  // emptied while parsing
  if (!vocab.is_object() || taken.vocab.empty()) f.fail("model.vocab", "is not a non-empty object");
  if (!taken.vocab_key_with_container.empty()) f.fail(fmt::format("model.vocab[\"{}\"]", taken.vocab_key_with_container), "is not a token id");
  vocab_.reserve(taken.vocab.size());
  TokenId max_id = -1;
  for (auto& [token, value] : taken.vocab) {
    TokenId id = f.id(value, fmt::format("model.vocab[\"{}\"]", token));
    vocab_[std::move(token)] = id;  // a repeated key keeps its last id, as a JSON map does
    max_id = std::max(max_id, id);
  }
  // A vocabulary may lack some byte tokens (SmolLM2's lacks 0x04 among others). Without an unk
  // token HF drops such bytes when encoding; so does encode(), counting them (dropped_bytes()).
  std::vector<std::string> missing;
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(unicode::byte_to_char()[b]);
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
    if (it == vocab_.end()) missing.push_back(fmt::format("0x{:02x}", b));
  }
  if (!missing.empty()) {
    if (model.contains("unk_token") && !model["unk_token"].is_null()) {
      f.fail("model.unk_token", "is set while model.vocab lacks byte tokens (unk replacement is not supported)");
    }
    missing_bytes_ = missing.size();
    spdlog::warn("{}: model.vocab lacks the byte-level tokens of {} byte(s) ({}); such bytes are dropped when encoding, as HF "
                 "tokenizers does", f.file, missing.size(), fmt::join(missing, " "));
  }
  if (!f.need(model, "merges", "model.merges").is_array()) f.fail("model.merges", "is not an array");
  const std::vector<json>& merges = taken.merges;
  merges_.reserve(merges.size());
  std::string joined;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const json& merge = merges[rank];
    const std::string field = fmt::format("model.merges[{}]", rank);
    std::string_view left, right;
    if (merge.is_string()) {  // "a b"
      std::string_view text = merge.get_ref<const std::string&>();
      auto space = text.find(' ');
      if (space == std::string_view::npos || text.find(' ', space + 1) != std::string_view::npos) {
        f.fail(field, "is not two tokens separated by one space");
      }
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {  // ["a", "b"]
      left = merge[0].get_ref<const std::string&>();
      right = merge[1].get_ref<const std::string&>();
    } else {
      f.fail(field, "is neither \"a b\" nor [\"a\", \"b\"]");
    }
    joined.assign(left).append(right);
    auto l = vocab_.find(left), r = vocab_.find(right), m = vocab_.find(joined);
    if (l == vocab_.end() || r == vocab_.end() || m == vocab_.end()) f.fail(field, "names a token missing from model.vocab");
    // A repeated pair takes its last rank, as in HF (its merge map is collected into a HashMap).
    merges_.set(l->second, r->second, Merge{static_cast<std::int32_t>(rank), m->second});
  }

  // added tokens
  struct Added {
    std::string content;
    TokenId id;
    bool special, normalized;
  };
  std::vector<Added> added;
  if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
    const json& list = f.array(root["added_tokens"], "added_tokens");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string field = fmt::format("added_tokens[{}]", i);
      const json& token = list[i];
      TokenId id = f.id(f.need(token, "id", field + ".id"), field + ".id");
      const std::string& content = f.string(f.need(token, "content", field + ".content"), field + ".content");
      if (content.empty()) f.fail(field + ".content", "is empty");
      for (const char* key : {"single_word", "lstrip", "rstrip"}) f.require(token, key, false, field);
      added.push_back({content, id, f.flag(token, "special", field), f.flag(token, "normalized", field)});
      max_id = std::max(max_id, id);
    }
  }
  // The id tables are as long as the largest id: ids may leave gaps, but not so many that a small
  // file makes cotrain allocate gigabytes (an id near 2^31 in a file of a few tokens).
  const std::size_t distinct = vocab_.size() + added.size();
  if (static_cast<std::size_t>(max_id) > 2 * distinct + 65536) {
    f.fail("model.vocab", fmt::format("has token id {} but only {} tokens (ids may leave gaps of at most twice the "
                                      "number of tokens plus 65536)", max_id, distinct));
  }

  token_text_.assign(max_id + 1, std::string());
  token_bytes_.assign(max_id + 1, std::string());
  special_.assign(max_id + 1, 0);
  for (const auto& [token, id] : vocab_) {
    token_text_[id] = token;
    // HF's ByteLevel decoder: characters back to bytes, or the token's own UTF-8 if one is unmapped.
    if (!unicode::chars_to_bytes(token, token_bytes_[id])) token_bytes_[id] = token;
  }
  std::array<std::vector<std::pair<std::string, TokenId>>, 2> raw, normalized;
  for (const auto& token : added) {
    token_text_[token.id] = token.content;
    token_bytes_[token.id] = token.content;
    special_[token.id] = token.special;
    added_[token.content] = token.id;
    auto& lists = token.normalized ? normalized : raw;
    lists[0].emplace_back(token.content, token.id);
    if (!token.special) lists[1].emplace_back(token.content, token.id);
  }
  for (int i = 0; i < 2; ++i) {
    raw_matchers_[i] = AddedTokenMatcher(raw[i]);
    normalized_matchers_[i] = AddedTokenMatcher(normalized[i]);
  }

  // normalizer: NFC, or nothing
  if (root.contains("normalizer") && !root["normalizer"].is_null()) {
    const json& normalizer = root["normalizer"];
    std::vector<std::pair<const json*, std::string>> steps{{&normalizer, "normalizer"}};
    if (f.type_of(normalizer, "normalizer") == "Sequence") {
      steps.clear();
      const json& list = f.array(f.need(normalizer, "normalizers", "normalizer.normalizers"), "normalizer.normalizers");
      if (list.size() > kMaxSteps) f.fail("normalizer.normalizers", fmt::format("has more than {} steps", kMaxSteps));
      for (std::size_t i = 0; i < list.size(); ++i) steps.emplace_back(&list[i], fmt::format("normalizer.normalizers[{}]", i));
    }
    for (const auto& [step, field] : steps) {
      std::string type = f.type_of(*step, field);
      if (type != "NFC") f.fail(field + ".type", fmt::format("\"{}\" is not supported (only NFC)", type));
      nfc_ = true;
    }
  }

  // pre_tokenizer: Split (Isolated) steps and one ByteLevel
  bool byte_level = false;
  auto add_split = [&](const std::string& pattern, bool literal, const std::string& field) {
    try {
      splits_.emplace_back(pattern, literal, field);
    } catch (const InputError& e) {
      fail_input("{}: {}", f.file, e.what());
    }
  };
  std::function<void(const json&, const std::string&)> add_pre_tokenizer = [&](const json& node, const std::string& field) {
    std::string type = f.type_of(node, field);
    if (type == "Sequence") {
      const json& list = f.array(f.need(node, "pretokenizers", field + ".pretokenizers"), field + ".pretokenizers");
      if (splits_.size() + list.size() > kMaxSteps) f.fail(field + ".pretokenizers", fmt::format("has more than {} steps in all", kMaxSteps));
      for (std::size_t i = 0; i < list.size(); ++i) add_pre_tokenizer(list[i], fmt::format("{}.pretokenizers[{}]", field, i));
    } else if (type == "Split") {
      f.require(node, "behavior", "Isolated", field);
      f.require(node, "invert", false, field);
      const json& pattern = f.need(node, "pattern", field + ".pattern");
      if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
        add_split(pattern["Regex"].get<std::string>(), false, field + ".pattern.Regex");
      } else if (pattern.contains("String") && pattern["String"].is_string()) {
        add_split(pattern["String"].get<std::string>(), true, field + ".pattern.String");
      } else {
        f.fail(field + ".pattern", "is neither {\"Regex\": ...} nor {\"String\": ...}");
      }
    } else if (type == "ByteLevel") {
      if (byte_level) f.fail(field, "is a second ByteLevel step");
      f.require(node, "add_prefix_space", false, field);
      if (f.flag(node, "use_regex", field)) add_split(kGpt2Pattern, false, field);
      byte_level = true;
    } else {
      f.fail(field + ".type", fmt::format("\"{}\" is not supported (known: Sequence, Split, ByteLevel)", type));
    }
  };
  const json& pre_tokenizer = f.need(root, "pre_tokenizer", "pre_tokenizer");
  if (pre_tokenizer.is_null()) f.fail("pre_tokenizer", "is null (byte-level BPE needs a ByteLevel pre-tokenizer)");
  add_pre_tokenizer(pre_tokenizer, "pre_tokenizer");
  if (!byte_level) f.fail("pre_tokenizer", "has no ByteLevel step (only byte-level BPE is supported)");

  // decoder: ByteLevel
  const json& decoder = f.need(root, "decoder", "decoder");
  if (decoder.is_null() || f.type_of(decoder, "decoder") != "ByteLevel") {
    f.fail("decoder.type", "is not ByteLevel (the only supported decoder for BPE)");
  }

  // post_processor: ByteLevel (adds nothing to ids) or TemplateProcessing (special tokens around $A)
  std::function<void(const json&, const std::string&)> add_post_processor = [&](const json& node, const std::string& field) {
    if (node.is_null()) return;
    std::string type = f.type_of(node, field);
    if (type == "ByteLevel") return;
    if (type == "Sequence") {
      const json& list = f.array(f.need(node, "processors", field + ".processors"), field + ".processors");
      if (list.size() > kMaxSteps) f.fail(field + ".processors", fmt::format("has more than {} steps", kMaxSteps));
      for (std::size_t i = 0; i < list.size(); ++i) add_post_processor(list[i], fmt::format("{}.processors[{}]", field, i));
      return;
    }
    if (type != "TemplateProcessing") f.fail(field + ".type", fmt::format("\"{}\" is not supported (known: ByteLevel, TemplateProcessing, Sequence)", type));
    const json& single = f.array(f.need(node, "single", field + ".single"), field + ".single");
    const json& special_tokens = f.need(node, "special_tokens", field + ".special_tokens");
    bool seen_sequence = false;
    for (std::size_t i = 0; i < single.size(); ++i) {
      const std::string item = fmt::format("{}.single[{}]", field, i);
      if (single[i].is_object() && single[i].contains("Sequence")) {
        if (seen_sequence) f.fail(item, "is a second sequence");
        seen_sequence = true;
        continue;
      }
      const json& token = f.need(single[i], "SpecialToken", item + ".SpecialToken");
      const std::string& name = f.string(f.need(token, "id", item + ".SpecialToken.id"), item + ".SpecialToken.id");
      const std::string entry_field = field + ".special_tokens." + name;
      const json& ids = f.array(f.need(f.need(special_tokens, name, entry_field), "ids", entry_field + ".ids"), entry_field + ".ids");
      for (std::size_t k = 0; k < ids.size(); ++k) {
        TokenId id = f.id(ids[k], fmt::format("{}.ids[{}]", entry_field, k));
        if (static_cast<std::size_t>(id) >= token_text_.size() || token_text_[id].empty()) {
          f.fail(fmt::format("{}.ids[{}]", entry_field, k), fmt::format("= {} is not a token of this vocabulary", id));
        }
        (seen_sequence ? suffix_ids_ : prefix_ids_).push_back(id);
      }
    }
  };
  if (root.contains("post_processor")) add_post_processor(root["post_processor"], "post_processor");
}

}  // namespace cotrain
