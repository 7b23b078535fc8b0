// Reading tokenizer.json into a BpeTokenizer. Each section is checked against what encode()
// implements; any other setting is refused, naming its field, rather than approximated.
#include <spdlog/spdlog.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cotrain/core/error.h"
#include "cotrain/tokenizer/bpe_tokenizer.h"
#include "cotrain/tokenizer/unicode.h"

namespace cotrain {

using nlohmann::json;

namespace {

// GPT-2's split, used by a ByteLevel pre-tokenizer with use_regex true.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct Fields {
  std::string file;

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    fail_input("{} {}, {}", field, what, file);
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

json parse_tokenizer_json(const std::filesystem::path& file, VocabAndMerges& taken) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail_input("cannot open {}", file.string());
  // Parsing from memory is several times faster than from a stream.
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Depth as nlohmann reports it: 1 for the top object's keys, 3 for model.vocab's entries and
  // model.merges' elements. Returning false leaves an element out of the tree.
  std::string section, field, key;
  auto take = [&](int depth, json::parse_event_t event, json& parsed) {
    const bool in_vocab = depth == 3 && section == "model" && field == "vocab";
    const bool in_merges = depth == 3 && section == "model" && field == "merges";
    switch (event) {
      case json::parse_event_t::key:
        if (depth == 1) section = parsed.get<std::string>(), field.clear();
        if (depth == 2) field = parsed.get<std::string>();
        if (in_vocab) key = parsed.get<std::string>();
        return !in_vocab;
      case json::parse_event_t::value:
        if (in_vocab) taken.vocab.emplace_back(std::move(key), std::move(parsed));
        if (in_merges) taken.merges.push_back(std::move(parsed));
        return !in_vocab && !in_merges;
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (in_vocab) taken.vocab_key_with_container = key;
        return true;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:  // a whole ["a", "b"] merge
        if (in_merges) taken.merges.push_back(std::move(parsed));
        return !in_merges;
    }
    return true;
  };
  try {
    return json::parse(text, take);
  } catch (const json::parse_error& e) {
    fail_input("bad JSON in {} (byte {})", file.string(), e.byte);
  }
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
  for (auto& [token, id] : taken.vocab) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > INT32_MAX) {
      f.fail(fmt::format("model.vocab[\"{}\"]", token), "is not a token id");
    }
    vocab_[std::move(token)] = id.get<TokenId>();  // a repeated key keeps its last id, as a JSON map does
    max_id = std::max(max_id, id.get<TokenId>());
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
    const json& list = root["added_tokens"];
    if (!list.is_array()) f.fail("added_tokens", "is not an array");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string field = fmt::format("added_tokens[{}]", i);
      const json& token = list[i];
      const json& id = f.need(token, "id", field + ".id");
      const json& content = f.need(token, "content", field + ".content");
      if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > INT32_MAX) {
        f.fail(field + ".id", "is not a token id");
      }
      if (!content.is_string() || content.get<std::string>().empty()) f.fail(field + ".content", "is not a non-empty string");
      for (const char* key : {"single_word", "lstrip", "rstrip"}) f.require(token, key, false, field);
      added.push_back({content.get<std::string>(), id.get<TokenId>(), f.flag(token, "special", field),
                       f.flag(token, "normalized", field)});
      max_id = std::max(max_id, added.back().id);
    }
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
      const json& list = f.need(normalizer, "normalizers", "normalizer.normalizers");
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
      fail_input("{}, {}", e.what(), f.file);
    }
  };
  std::function<void(const json&, const std::string&)> add_pre_tokenizer = [&](const json& node, const std::string& field) {
    std::string type = f.type_of(node, field);
    if (type == "Sequence") {
      const json& list = f.need(node, "pretokenizers", field + ".pretokenizers");
      if (!list.is_array()) f.fail(field + ".pretokenizers", "is not an array");
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
      const json& list = f.need(node, "processors", field + ".processors");
      for (std::size_t i = 0; i < list.size(); ++i) add_post_processor(list[i], fmt::format("{}.processors[{}]", field, i));
      return;
    }
    if (type != "TemplateProcessing") f.fail(field + ".type", fmt::format("\"{}\" is not supported (known: ByteLevel, TemplateProcessing, Sequence)", type));
    const json& single = f.need(node, "single", field + ".single");
    const json& special_tokens = f.need(node, "special_tokens", field + ".special_tokens");
    bool seen_sequence = false;
    for (std::size_t i = 0; i < single.size(); ++i) {
      const std::string item = fmt::format("{}.single[{}]", field, i);
      if (single[i].contains("Sequence")) {
        if (seen_sequence) f.fail(item, "is a second sequence");
        seen_sequence = true;
        continue;
      }
      const json& token = f.need(single[i], "SpecialToken", item + ".SpecialToken");
      const json& name = f.need(token, "id", item + ".SpecialToken.id");
      const json& entry = f.need(special_tokens, name.get<std::string>(), field + ".special_tokens." + name.get<std::string>());
      for (const auto& id : f.need(entry, "ids", field + ".special_tokens." + name.get<std::string>() + ".ids")) {
        (seen_sequence ? suffix_ids_ : prefix_ids_).push_back(id.get<TokenId>());
      }
    }
  };
  if (root.contains("post_processor")) add_post_processor(root["post_processor"], "post_processor");
}

}  // namespace cotrain
