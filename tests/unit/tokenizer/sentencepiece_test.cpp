// The sentencepiece back end on a tiny model trained here with libsentencepiece's trainer, compared
// with libsentencepiece's own processor (no Python sentencepiece on this machine).
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/tokenizer/tokenizer.h"

namespace cotrain {
namespace {

const std::vector<std::string> kTexts = {
    "The quick brown fox jumps over the lazy dog.", "Let x = 2; then x^2 + 3x = 10.",
    "A tokenizer splits text into pieces.",         "Numbers: 12345 67890 3.14159",
    "Mixed: café naïve 中文 text",                   "  leading spaces and trailing  ",
};

std::filesystem::path train_tiny_model() {
  auto dir = test::scratch_dir();
  {
    std::ofstream corpus(dir / "corpus.txt");
    for (int i = 0; i < 50; ++i) {
      for (const auto& text : kTexts) corpus << text << " " << i << "\n";
    }
  }
  auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + (dir / "tiny").string() +
      " --vocab_size=400 --hard_vocab_limit=false --model_type=bpe --byte_fallback=true --character_coverage=1.0 --minloglevel=2");
  EXPECT_TRUE(status.ok()) << status.ToString();
  return dir / "tiny.model";
}

TEST(SentencePiece, MatchesLibsentencepiece) {
  auto model = train_tiny_model();
  auto tokenizer = Tokenizer::load(model);
  sentencepiece::SentencePieceProcessor reference;
  ASSERT_TRUE(reference.Load(model.string()).ok());
  EXPECT_EQ(tokenizer->vocab_size(), static_cast<std::size_t>(reference.GetPieceSize()));
  for (const auto& text : kTexts) {
    std::vector<int> expected;
    ASSERT_TRUE(reference.Encode(text, &expected).ok());
    auto ids = tokenizer->encode(text);
    EXPECT_EQ(std::vector<int>(ids.begin(), ids.end()), expected) << text;
    std::string decoded;
    ASSERT_TRUE(reference.Decode(expected, &decoded).ok());
    EXPECT_EQ(tokenizer->decode(ids), decoded);
  }
  // Unseen characters go through byte fallback and come back intact.
  std::string unseen = "Ж ∑ 🙂";
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(unseen)), unseen);
}

TEST(SentencePiece, ControlTokensBosAndSkipping) {
  auto tokenizer = Tokenizer::load(train_tiny_model());
  TokenId bos = tokenizer->token_to_id("<s>"), eos = tokenizer->token_to_id("</s>");
  ASSERT_GE(bos, 0);
  ASSERT_GE(eos, 0);
  EXPECT_TRUE(tokenizer->is_special(eos));
  auto ids = tokenizer->encode("fox</s>");
  EXPECT_EQ(ids.back(), eos);
  EXPECT_NE(tokenizer->encode("fox</s>", /*parse_special=*/false).back(), eos);
  EXPECT_EQ(tokenizer->add_special_tokens(ids).front(), bos);
  EXPECT_EQ(tokenizer->decode(ids), "fox</s>");
  EXPECT_EQ(tokenizer->decode(ids, /*skip_special=*/true), "fox");
  EXPECT_EQ(tokenizer->token_to_id("no such piece"), -1);
  EXPECT_THROW(tokenizer->decode({{-1}}), InputError);
}

TEST(SentencePiece, ModelDirectoryFallsBackFromAnUnsupportedTokenizerJson) {
  auto model = train_tiny_model();
  auto dir = model.parent_path() / "llama2-like";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(model, dir / "tokenizer.model");
  std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "BPE", "byte_fallback": true}})";
  auto tokenizer = Tokenizer::load(dir);
  EXPECT_EQ(tokenizer->encode("fox"), Tokenizer::load(model)->encode("fox"));
  EXPECT_THROW(Tokenizer::load(dir / "tokenizer.json"), InputError);  // named directly, it is refused
}

TEST(SentencePiece, NotAModelIsInputError) {
  auto path = test::scratch_dir() / "broken.model";
  std::ofstream(path) << "not a protobuf";
  EXPECT_THROW(Tokenizer::load(path), InputError);
}

}  // namespace
}  // namespace cotrain
