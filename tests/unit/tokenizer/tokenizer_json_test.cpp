// Reading tokenizer.json: a tiny hand-made byte-level BPE (both merge formats), and refusals of
// malformed or unsupported settings, each naming its field.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "common/tiny_tokenizer.h"
#include "cotrain/core/error.h"
#include "cotrain/tokenizer/tokenizer.h"
#include "cotrain/tokenizer/unicode.h"

namespace cotrain {
namespace {

using nlohmann::json;

// The shared tiny tokenizer with "<|end|>" (259, special) and "<tool>" (260, not special).
json tiny_tokenizer(bool pair_merges) {
  return test::tiny_tokenizer_json(pair_merges, {{"<|end|>", true, false}, {"<tool>", false, false}});
}

std::filesystem::path write(const json& tokenizer) {
  auto path = test::scratch_dir() / "tokenizer.json";
  std::ofstream(path) << tokenizer.dump();
  return path;
}

// The InputError message of loading TOKENIZER ("" when it loads).
std::string load_error(const json& tokenizer) {
  try {
    Tokenizer::load(write(tokenizer));
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(TokenizerJson, TinyBpeInBothMergeFormats) {
  for (bool pairs : {false, true}) {
    auto tokenizer = Tokenizer::load(write(tiny_tokenizer(pairs)));
    EXPECT_EQ(tokenizer->encode("abc ab<|end|>x<tool>"), (std::vector<TokenId>{257, 258, 259, 'x', 260}));
    EXPECT_EQ(tokenizer->encode("ab<|end|>", /*parse_special=*/false), (std::vector<TokenId>{256, '<', '|', 'e', 'n', 'd', '|', '>'}));
    EXPECT_EQ(tokenizer->encode("<tool>", /*parse_special=*/false), (std::vector<TokenId>{260}));  // not special: still matched
    EXPECT_EQ(tokenizer->decode({{257, 259, 258}}), "abc<|end|> ab");
    EXPECT_EQ(tokenizer->decode({{257, 259, 258}}, /*skip_special=*/true), "abc ab");
    EXPECT_EQ(tokenizer->vocab_size(), 261u);
    EXPECT_EQ(tokenizer->token_to_id("<|end|>"), 259);
    EXPECT_EQ(tokenizer->token_to_id("nope"), -1);
    EXPECT_TRUE(tokenizer->is_special(259));
    EXPECT_FALSE(tokenizer->is_special(260));
  }
}

TEST(TokenizerJson, InvalidUtf8BecomesReplacementCharacter) {
  auto tokenizer = Tokenizer::load(write(tiny_tokenizer(false)));
  // "é" is bytes C3 A9; alone, C3 is an incomplete character.
  EXPECT_EQ(tokenizer->decode({{0xC3, 'a'}}), "\xEF\xBF\xBD" "a");
  EXPECT_EQ(tokenizer->decode({{0xC3, 0xA9}}), "é");
  EXPECT_EQ(tokenizer->encode("\xFF"), tokenizer->encode("\xEF\xBF\xBD"));
  EXPECT_THROW(tokenizer->decode({{999}}), InputError);
}

// HF drops a byte the vocabulary has no token for (when there is no unk token); the bytes on
// either side then merge as neighbours.
TEST(TokenizerJson, BytesWithoutATokenAreDroppedAndCounted) {
  json tokenizer = tiny_tokenizer(false);
  tokenizer["model"]["vocab"].erase(unicode::byte_to_char()[0x04]);
  tokenizer["model"]["vocab"].erase(unicode::byte_to_char()[0x05]);
  tokenizer["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};  // one word
  auto loaded = Tokenizer::load(write(tokenizer));
  EXPECT_EQ(loaded->missing_byte_tokens(), 2u);
  EXPECT_EQ(loaded->dropped_bytes(), 0u);
  EXPECT_EQ(loaded->encode("a\x04" "bc"), (std::vector<TokenId>{257}));  // "a" + "bc" still merge to "abc"
  EXPECT_EQ(loaded->encode("\x05"), (std::vector<TokenId>{}));
  EXPECT_EQ(loaded->encode("x\x04\x05y"), (std::vector<TokenId>{'x', 'y'}));
  EXPECT_EQ(loaded->dropped_bytes(), 4u);
  tokenizer["model"]["unk_token"] = "<unk>";
  EXPECT_NE(load_error(tokenizer).find("model.unk_token"), std::string::npos);
}

struct BadCase {
  std::string name, field;
  std::function<void(json&)> change;
};

TEST(TokenizerJson, RefusesMalformedOrUnsupportedSettingsNamingTheField) {
  const std::vector<BadCase> cases = {
      {"missing model", "model missing", [](json& t) { t.erase("model"); }},
      {"model type", "model.type", [](json& t) { t["model"]["type"] = "WordPiece"; }},
      {"missing vocab", "model.vocab missing", [](json& t) { t["model"].erase("vocab"); }},
      {"vocab not an object", "model.vocab is not a non-empty object", [](json& t) { t["model"]["vocab"] = json::array({1, 2}); }},
      {"vocab id not a number", "model.vocab[\"ab\"] is not a token id", [](json& t) { t["model"]["vocab"]["ab"] = "256"; }},
      {"vocab id an object", "model.vocab[\"ab\"] is not a token id", [](json& t) { t["model"]["vocab"]["ab"] = json{{"id", 256}}; }},
      {"merges not an array", "model.merges is not an array", [](json& t) { t["model"]["merges"] = "a b"; }},
      {"merge an object", "model.merges[1] is neither", [](json& t) { t["model"]["merges"][1] = json{{"a", "b"}}; }},
      {"merge not two tokens", "model.merges[1]", [](json& t) { t["model"]["merges"][1] = "a b c"; }},
      {"merge of unknown token", "model.merges[0]", [](json& t) { t["model"]["merges"][0] = "zz b"; }},
      {"merge wrong shape", "model.merges[2]", [](json& t) { t["model"]["merges"][2] = 7; }},
      {"byte fallback", "model.byte_fallback", [](json& t) { t["model"]["byte_fallback"] = true; }},
      {"unknown pre-tokenizer", "pre_tokenizer.pretokenizers[0].type", [](json& t) { t["pre_tokenizer"]["pretokenizers"][0]["type"] = "Whitespace"; }},
      {"split behaviour", "pre_tokenizer.pretokenizers[0].behavior", [](json& t) { t["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }},
      {"bad regex", "pre_tokenizer.pretokenizers[0].pattern.Regex", [](json& t) { t["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; }},
      {"no byte level", "pre_tokenizer has no ByteLevel", [](json& t) { t["pre_tokenizer"]["pretokenizers"].erase(1); }},
      {"unknown normalizer", "normalizer.type", [](json& t) { t["normalizer"]["type"] = "Lowercase"; }},
      {"decoder", "decoder.type", [](json& t) { t["decoder"]["type"] = "WordPiece"; }},
      {"added token lstrip", "added_tokens[0].lstrip", [](json& t) { t["added_tokens"][0]["lstrip"] = true; }},
      {"truncation", "truncation", [](json& t) { t["truncation"] = json{{"max_length", 5}}; }},
      {"post-processor", "post_processor.type", [](json& t) { t["post_processor"]["type"] = "BertProcessing"; }},
  };
  for (const auto& c : cases) {
    json tokenizer = tiny_tokenizer(false);
    c.change(tokenizer);
    std::string error = load_error(tokenizer);
    EXPECT_NE(error.find(c.field), std::string::npos) << c.name << ": \"" << error << "\"";
    EXPECT_NE(error.find("tokenizer.json"), std::string::npos) << c.name << ": " << error;
  }
  EXPECT_EQ(load_error(tiny_tokenizer(false)), "");
}

TEST(TokenizerJson, TemplateProcessingAddsBos) {
  json tokenizer = tiny_tokenizer(false);
  tokenizer["post_processor"] = {{"type", "TemplateProcessing"},
                                 {"single", json::array({{{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}},
                                                         {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                                 {"special_tokens", {{"<|end|>", {{"id", "<|end|>"}, {"ids", {259}}, {"tokens", {"<|end|>"}}}}}}};
  auto loaded = Tokenizer::load(write(tokenizer));
  EXPECT_EQ(loaded->add_special_tokens(loaded->encode("ab")), (std::vector<TokenId>{259, 256}));
}

// A few bytes of JSON must not make cotrain allocate gigabytes: an id near 2^31 made two tables of
// that many entries (6.5 GB at 1e8).
TEST(TokenizerJson, RefusesIdsFarBeyondTheNumberOfTokensBeforeAllocating) {
  json vocab_id = tiny_tokenizer(false);
  vocab_id["model"]["vocab"]["ab"] = 2'000'000'000;
  EXPECT_NE(load_error(vocab_id).find("model.vocab has token id 2000000000 but only 261 tokens"), std::string::npos)
      << load_error(vocab_id);
  json added_id = tiny_tokenizer(false);
  added_id["added_tokens"][0]["id"] = 100'000'000;
  EXPECT_NE(load_error(added_id).find("has token id 100000000"), std::string::npos) << load_error(added_id);
  json gap = tiny_tokenizer(false);
  gap["added_tokens"][0]["id"] = 5000;  // a modest gap (padding to a round vocabulary size) is fine
  EXPECT_EQ(load_error(gap), "");
}

// Special-token ids of a TemplateProcessing post-processor were emitted as they were: -7 wrapped,
// 2^40 truncated.
TEST(TokenizerJson, TemplateProcessingIdsMustBeTokensOfTheVocabulary) {
  for (json bad : {json(-7), json(std::int64_t{1} << 40), json(300), json("259")}) {
    json tokenizer = tiny_tokenizer(false);
    tokenizer["post_processor"] = {{"type", "TemplateProcessing"},
                                   {"single", json::array({{{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}},
                                                           {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                                   {"special_tokens", {{"<|end|>", {{"id", "<|end|>"}, {"ids", {bad}}}}}}};
    EXPECT_NE(load_error(tokenizer).find("post_processor.special_tokens.<|end|>.ids[0]"), std::string::npos)
        << bad << ": " << load_error(tokenizer);
  }
}

// A 2.5 MB pre-tokenizer nested 70k deep took more than 12 GB; depth and step counts are bounded.
TEST(TokenizerJson, DeepOrHugePreTokenizersAreRefused) {
  json tokenizer = tiny_tokenizer(false);
  std::string text = tokenizer.dump();
  std::string nest;
  for (int i = 0; i < 5000; ++i) nest += R"({"type":"Sequence","pretokenizers":[)";
  nest += R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":false})";
  for (int i = 0; i < 5000; ++i) nest += "]}";
  std::string pre = tokenizer["pre_tokenizer"].dump();
  text.replace(text.find(pre), pre.size(), nest);
  auto path = test::scratch_dir() / "tokenizer.json";
  std::ofstream(path) << text;
  try {
    Tokenizer::load(path);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than 128 levels"), std::string::npos) << e.what();
  }
  json wide = tiny_tokenizer(false);
  json split = wide["pre_tokenizer"]["pretokenizers"][0];
  for (int i = 0; i < 100; ++i) wide["pre_tokenizer"]["pretokenizers"].insert(wide["pre_tokenizer"]["pretokenizers"].begin(), split);
  EXPECT_NE(load_error(wide).find("more than 64 steps"), std::string::npos) << load_error(wide);
}

// Matching added tokens was O(text x tokens): 400k added tokens took 43 s to load and match.
TEST(TokenizerJson, ManyAddedTokensLoadAndMatchInLinearTime) {
  json tokenizer = tiny_tokenizer(false);
  for (int i = 0; i < 400'000; ++i) {
    tokenizer["added_tokens"].push_back(
        {{"id", 261 + i}, {"content", fmt::format("<tok_{:06d}>", i)}, {"special", true}, {"normalized", false}});
  }
  std::string text;
  for (int i = 0; i < 20'000; ++i) text += fmt::format("<tok_{:05d}a <tok_{:06d}>", i, i * 7);
  auto start = std::chrono::steady_clock::now();
  auto loaded = Tokenizer::load(write(tokenizer));
  auto ids = loaded->encode(text);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(std::count_if(ids.begin(), ids.end(), [](TokenId id) { return id >= 261; }), 20'000);
  EXPECT_EQ(ids[ids.size() - 1], 261 + 19'999 * 7);
  EXPECT_LT(seconds, 20.0) << "load + encode took " << seconds << " s";
}

TEST(TokenizerJson, LoadsFromModelDirectoryAndRejectsOtherPaths) {
  auto path = write(tiny_tokenizer(false));
  EXPECT_EQ(Tokenizer::load(path.parent_path())->encode("ab"), (std::vector<TokenId>{256}));
  EXPECT_THROW(Tokenizer::load(path.parent_path() / "absent.json"), InputError);
  EXPECT_THROW(Tokenizer::load(test::scratch_dir()), InputError);  // empty directory
  auto bad = test::scratch_dir() / "tokenizer.json";
  std::ofstream(bad) << "{not json";
  EXPECT_THROW(Tokenizer::load(bad), InputError);
}

}  // namespace
}  // namespace cotrain
