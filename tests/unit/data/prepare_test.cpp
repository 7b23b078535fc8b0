#include "cotrain/data/prepare.h"

#include <gtest/gtest.h>

#include <sentencepiece_trainer.h>

#include <csignal>
#include <fstream>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/core/signals.h"
#include "cotrain/core/version.h"
#include "cotrain/data/token_cache.h"
#include "unit/tokenizer/loaded_tokenizers.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

const std::string kGood1 = R"({"system": "S", "conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "<|begin_of_thought|>\n\n2+2=4.\n\nWait, let me check: yes.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{4}\n\n<|end_of_solution|>"}]})";
const std::string kGood2 = R"({"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}]})";
const std::string kGood3 = R"({"prompt": "Name a colour.", "response": "Blue."})";

fs::path write(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

PrepareSettings settings_for(const fs::path& tokenizer, std::vector<fs::path> inputs) {
  PrepareSettings s;
  s.inputs = std::move(inputs);
  s.tokenizer = tokenizer;
  s.render.cutoff = 16384;
  s.threads = 2;
  return s;
}

TEST(Prepare, CacheHoldsTheRenderedSamplesAndAManifest) {
  COTRAIN_SHARED_FILE(tok_path, "tokenizers/qwen2.5/tokenizer.json");
  fs::path dir = test::scratch_dir();
  auto a = write(dir / "a.jsonl", kGood1 + "\n" + kGood2 + "\n");
  auto b = write(dir / "b.json", "[" + kGood3 + "]");
  PrepareSettings settings = settings_for(tok_path, {a, b});
  PrepareReport report = prepare_token_cache(settings, dir / "cache");
  EXPECT_EQ(report.documents, 3u);
  EXPECT_EQ(report.skipped, 0u);

  TokenCache cache = TokenCache::open(dir / "cache");
  ASSERT_EQ(cache.size(), 3u);
  const Tokenizer& tok = test::loaded_tokenizer(tok_path);
  ChatTemplate qwen = ChatTemplate::by_name("qwen2.5");  // detected from tokenizer_config.json
  std::vector<Conversation> conversations = {
      {{"system", "S"}, {"user", "What is 2+2?"}, {"assistant", "<|begin_of_thought|>\n\n2+2=4.\n\nWait, let me check: yes.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{4}\n\n<|end_of_solution|>"}},
      {{"user", "Say hi"}, {"assistant", "hi"}},
      {{"user", "Name a colour."}, {"assistant", "Blue."}}};
  std::int64_t tokens = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    RenderedChat want = qwen.render(tok, conversations[i]);
    auto ids = cache.ids(i);
    auto mask = cache.mask(i);
    EXPECT_EQ(std::vector<TokenId>(ids.begin(), ids.end()), want.ids) << i;
    EXPECT_EQ(std::vector<std::uint8_t>(mask.begin(), mask.end()), want.mask) << i;
    tokens += static_cast<std::int64_t>(want.ids.size());
  }
  EXPECT_EQ(cache.tokens(), tokens);
  const auto& m = cache.manifest();
  EXPECT_EQ(m["template"], "qwen2.5");
  EXPECT_EQ(m["inputs"].size(), 2u);
  EXPECT_EQ(m["inputs"][0]["size"], fs::file_size(a));
  EXPECT_EQ(m["inputs"][0]["fnv1a64"], file_hash(a));
  ASSERT_EQ(m["tokenizer"].size(), 1u);
  EXPECT_EQ(m["tokenizer"][0]["fnv1a64"], file_hash(tok_path));
  EXPECT_EQ(cache.tokenizer_path(), fs::absolute(tok_path).lexically_normal());
  EXPECT_EQ(m["counts"]["documents"], 3);
  EXPECT_EQ(m["counts"]["tokens"], tokens);
  EXPECT_EQ(m["length_histogram"]["counts"][0], 3);  // all under 256 tokens
  EXPECT_EQ(m["cotrain_version"], cotrain::version());
  EXPECT_FALSE(fs::exists(dir / "cache" / "rejects.jsonl"));
}

TEST(Prepare, FirstBadLineFailsWithFileAndLineAndLeavesNothing) {
  COTRAIN_SHARED_FILE(tok_path, "tokenizers/qwen2.5/tokenizer.json");
  fs::path dir = test::scratch_dir();
  auto a = write(dir / "a.jsonl", kGood1 + "\n" + kGood2 + "\n{\"prompt\": \"x\", \"response\": \"\"}\nbroken\n");
  try {
    prepare_token_cache(settings_for(tok_path, {a}), dir / "cache");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), a.string() + ":3: empty assistant turn (response)");
  }
  EXPECT_FALSE(fs::exists(dir / "cache"));
  for (const auto& entry : fs::directory_iterator(dir)) EXPECT_EQ(entry.path(), a);  // no temporary left
}

TEST(Prepare, SkipWritesRejectsAndCountsThem) {
  COTRAIN_SHARED_FILE(tok_path, "tokenizers/qwen2.5/tokenizer.json");
  fs::path dir = test::scratch_dir();
  auto a = write(dir / "a.jsonl", "{bad\n" + kGood1 + "\n{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n" +
                                      kGood2 + "\n{\"prompt\": \"\xc3\x28\", \"response\": \"r\"}\n" + kGood3 + "\n");
  PrepareSettings settings = settings_for(tok_path, {a});
  settings.on_error = OnError::skip;
  PrepareReport report = prepare_token_cache(settings, dir / "cache");
  EXPECT_EQ(report.skipped, 3u);
  EXPECT_EQ(report.documents, 3u);
  std::vector<nlohmann::json> rejects;
  std::ifstream in(dir / "cache" / "rejects.jsonl");
  for (std::string line; std::getline(in, line);) rejects.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rejects.size(), 3u);
  EXPECT_EQ(rejects[0]["line"], 1);
  EXPECT_EQ(rejects[0]["reason"].get<std::string>().rfind("bad JSON", 0), 0u);
  EXPECT_EQ(rejects[0]["text"], "{bad");
  EXPECT_EQ(rejects[1]["line"], 3);
  EXPECT_EQ(rejects[1]["reason"], "no assistant turn");
  EXPECT_EQ(rejects[2]["line"], 5);
  EXPECT_EQ(rejects[2]["reason"], "invalid UTF-8");
  EXPECT_EQ(rejects[2]["file"], a.string());
  EXPECT_EQ(TokenCache::open(dir / "cache").manifest()["counts"]["skipped"], 3);
}

TEST(Prepare, CutoffOutcomesAreCounted) {
  COTRAIN_SHARED_FILE(tok_path, "tokenizers/qwen2.5/tokenizer.json");
  fs::path dir = test::scratch_dir();
  auto a = write(dir / "a.jsonl", kGood1 + "\n" + kGood2 + "\n" + kGood3 + "\n");
  PrepareSettings settings = settings_for(tok_path, {a});
  settings.render.cutoff = 40;  // kGood1 renders to more than 40 tokens, its prompt to less
  PrepareReport dropped = prepare_token_cache(settings, dir / "drop");
  EXPECT_EQ(dropped.dropped, 1u);
  EXPECT_EQ(dropped.documents, 2u);
  settings.render.cutoff_policy = CutoffPolicy::truncate;
  PrepareReport truncated = prepare_token_cache(settings, dir / "truncate");
  EXPECT_EQ(truncated.truncated, 1u);
  EXPECT_EQ(truncated.documents, 3u);
  TokenCache cache = TokenCache::open(dir / "truncate");
  EXPECT_EQ(cache.length(0), 40);
  EXPECT_EQ(cache.manifest()["counts"]["truncated"], 1);
}

TEST(Prepare, CacheIsReusedOnlyWhileInputsAndSettingsMatch) {
  COTRAIN_SHARED_FILE(tok_path, "tokenizers/qwen2.5/tokenizer.json");
  fs::path dir = test::scratch_dir();
  auto a = write(dir / "a.jsonl", kGood1 + "\n" + kGood2 + "\n");
  PrepareSettings settings = settings_for(tok_path, {a});
  std::string why;
  EXPECT_FALSE(cache_matches(dir / "cache", settings, &why));
  EXPECT_NE(why.find("no manifest.json"), std::string::npos) << why;
  prepare_token_cache(settings, dir / "cache");
  EXPECT_TRUE(cache_matches(dir / "cache", settings, &why)) << why;
  settings.threads = 1;  // does not change the result
  EXPECT_TRUE(cache_matches(dir / "cache", settings));

  PrepareSettings other = settings;
  other.render.cutoff = 8192;
  EXPECT_FALSE(cache_matches(dir / "cache", other, &why));
  EXPECT_EQ(why.rfind("'cutoff' differs", 0), 0u) << why;
  other = settings;
  other.render.train_on_prompt = true;
  EXPECT_FALSE(cache_matches(dir / "cache", other));
  other = settings;
  other.template_name = "qwen3";
  EXPECT_FALSE(cache_matches(dir / "cache", other));

  // Same size, one byte different: the hash notices.
  std::string changed = kGood1 + "\n" + kGood2 + "\n";
  changed[changed.find("2+2=4")] = '3';
  write(a, changed);
  EXPECT_FALSE(cache_matches(dir / "cache", settings, &why));
  EXPECT_EQ(why, "input " + fs::absolute(a).lexically_normal().string() + " changed");
  prepare_token_cache(settings, dir / "cache");  // rebuilt in place
  EXPECT_TRUE(cache_matches(dir / "cache", settings));
}

// A Llama-2 directory holds a tokenizer.json the BPE loader refuses and the tokenizer.model the ids
// really come from. The cache key hashed only tokenizer.json, so a changed tokenizer.model kept a
// stale cache; it now hashes every file Tokenizer::load may read.
TEST(Prepare, ChangingTheSentencepieceModelOfALlama2DirectoryInvalidatesTheCache) {
  fs::path dir = test::scratch_dir();
  auto train = [&](int vocab) {
    std::ofstream corpus(dir / "corpus.txt");
    for (int i = 0; i < 200; ++i) corpus << "Say hi to the model number " << i << " and name a colour, blue or red.\n";
    corpus.close();
    auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + (dir / "sp").string() + " --vocab_size=" +
        std::to_string(vocab) + " --hard_vocab_limit=false --model_type=bpe --byte_fallback=true --minloglevel=2");
    ASSERT_TRUE(status.ok()) << status.ToString();
    fs::copy_file(dir / "sp.model", dir / "llama2" / "tokenizer.model", fs::copy_options::overwrite_existing);
  };
  fs::create_directories(dir / "llama2");
  write(dir / "llama2" / "tokenizer.json", R"({"model": {"type": "Unigram"}})");  // what the BPE loader refuses
  train(400);
  auto a = write(dir / "a.jsonl", kGood2 + "\n" + kGood3 + "\n");
  PrepareSettings settings = settings_for(dir / "llama2", {a});
  settings.template_name = "none";
  prepare_token_cache(settings, dir / "cache");
  EXPECT_TRUE(cache_matches(dir / "cache", settings));
  train(450);  // other ids for the same text
  std::string why;
  EXPECT_FALSE(cache_matches(dir / "cache", settings, &why));
  EXPECT_EQ(why.rfind("'tokenizer' differs", 0), 0u) << why;
}

TEST(Prepare, NeverReplacesADirectoryThatIsNotACache) {
  COTRAIN_SHARED_FILE(tok_path, "tokenizers/qwen2.5/tokenizer.json");
  fs::path dir = test::scratch_dir();
  auto a = write(dir / "a.jsonl", kGood2 + "\n");
  fs::create_directories(dir / "mine");
  write(dir / "mine" / "notes.txt", "keep me");
  EXPECT_THROW(prepare_token_cache(settings_for(tok_path, {a}), dir / "mine"), InputError);
  EXPECT_TRUE(fs::exists(dir / "mine" / "notes.txt"));
  fs::create_directories(dir / "empty");
  prepare_token_cache(settings_for(tok_path, {a}), dir / "empty");  // an empty directory may be filled
  EXPECT_EQ(TokenCache::open(dir / "empty").size(), 1u);
}

TEST(Prepare, InterruptLeavesNoOutput) {
  COTRAIN_SHARED_FILE(tok_path, "tokenizers/qwen2.5/tokenizer.json");
  fs::path dir = test::scratch_dir();
  auto a = write(dir / "a.jsonl", kGood1 + "\n");
  install_stop_handlers();
  std::raise(SIGINT);
  EXPECT_THROW(prepare_token_cache(settings_for(tok_path, {a}), dir / "cache"), RuntimeFailure);
  reset_stop_request();
  EXPECT_FALSE(fs::exists(dir / "cache"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(TokenCacheReader, RejectsTruncatedOrForeignFiles) {
  COTRAIN_SHARED_FILE(tok_path, "tokenizers/qwen2.5/tokenizer.json");
  fs::path dir = test::scratch_dir();
  auto a = write(dir / "a.jsonl", kGood1 + "\n" + kGood2 + "\n");
  prepare_token_cache(settings_for(tok_path, {a}), dir / "cache");
  fs::resize_file(dir / "cache" / "ids.bin", fs::file_size(dir / "cache" / "ids.bin") - 4);
  try {
    TokenCache::open(dir / "cache");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("do not hold the"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(cache_matches(dir / "cache", settings_for(tok_path, {a})));
  write(dir / "cache" / "manifest.json", R"({"format": "something-else"})");
  EXPECT_THROW(TokenCache::open(dir / "cache"), InputError);
  EXPECT_THROW(TokenCache::open(dir / "nothing"), InputError);
}

}  // namespace
}  // namespace cotrain
