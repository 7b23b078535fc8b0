// Parity with Hugging Face `tokenizers` on ~5.5 MB of varied text (made by
// scripts/reference/tokenizer_ids.py): every id identical, for both Qwen tokenizer files, and
// decode(encode(x)) == NFC(x) (Python's unicodedata) for every document.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/shared_data.h"
#include "cotrain/tokenizer/unicode.h"
#include "loaded_tokenizers.h"

namespace cotrain {
namespace {

const std::filesystem::path kReference = std::filesystem::path(COTRAIN_BINARY_DIR) / "reference" / "tokenizer_ids";

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing reference file " + path.string() + " (run ctest: fixture reference.tokenizer_ids)");
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Corpus {
  std::vector<std::string> docs, nfc;
  std::vector<bool> has_added_tokens;
};

std::vector<std::string> slices(const std::string& data, const std::filesystem::path& index, std::vector<bool>* flags) {
  std::ifstream in(index);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::size_t offset, length;
    int flag = 0;
    fields >> offset >> length >> flag;
    out.push_back(data.substr(offset, length));
    if (flags) flags->push_back(flag == 1);
  }
  return out;
}

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus c;
    c.docs = slices(read_all(kReference / "corpus.bin"), kReference / "corpus.idx", &c.has_added_tokens);
    c.nfc = slices(read_all(kReference / "corpus.nfc"), kReference / "nfc.idx", nullptr);
    return c;
  }();
  return c;
}

std::vector<std::vector<TokenId>> read_ids(const std::filesystem::path& path) {
  std::istringstream in(read_all(path));
  std::vector<std::vector<TokenId>> rows;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ids(line);
    rows.emplace_back(std::istream_iterator<TokenId>(ids), std::istream_iterator<TokenId>());
  }
  return rows;
}

// The first differing position, for a readable failure.
std::string first_difference(const std::vector<TokenId>& got, const std::vector<TokenId>& want) {
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return "first difference at token " + std::to_string(i) + " of " + std::to_string(want.size()) + " (got " +
         std::to_string(got.size()) + " tokens)";
}

class HfParity : public ::testing::TestWithParam<std::string> {};

TEST_P(HfParity, IdsIdenticalOnWholeCorpus) {
  COTRAIN_SHARED_FILE(file, "tokenizers/" + GetParam() + "/tokenizer.json");
  const Tokenizer& tokenizer = test::loaded_tokenizer(file);
  const Corpus& c = corpus();
  auto expected = read_ids(kReference / (GetParam() + ".ids"));
  ASSERT_EQ(expected.size(), c.docs.size());
  std::size_t bytes = 0, mismatches = 0;
  for (std::size_t i = 0; i < c.docs.size(); ++i) {
    bytes += c.docs[i].size();
    auto ids = tokenizer.encode(c.docs[i]);
    if (ids != expected[i] && ++mismatches <= 5) {
      ADD_FAILURE() << "document " << i << ": " << first_difference(ids, expected[i]) << "\n"
                    << c.docs[i].substr(0, 300);
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(bytes, 5'000'000u);
}

TEST_P(HfParity, SpecialTokensAsTextMatchHf) {
  COTRAIN_SHARED_FILE(file, "tokenizers/" + GetParam() + "/tokenizer.json");
  const Tokenizer& tokenizer = test::loaded_tokenizer(file);
  const Corpus& c = corpus();
  auto expected = read_ids(kReference / (GetParam() + ".plain.ids"));
  std::size_t row = 0;
  for (std::size_t i = 0; i < c.docs.size(); ++i) {
    if (!c.has_added_tokens[i]) continue;
    ASSERT_LT(row, expected.size());
    EXPECT_EQ(tokenizer.encode(c.docs[i], /*parse_special=*/false), expected[row]) << "document " << i << ": " << c.docs[i];
    ++row;
  }
  EXPECT_EQ(row, expected.size());
  EXPECT_GT(row, 100u);
}

TEST_P(HfParity, DecodeOfEncodeIsNfc) {
  COTRAIN_SHARED_FILE(file, "tokenizers/" + GetParam() + "/tokenizer.json");
  const Tokenizer& tokenizer = test::loaded_tokenizer(file);
  const Corpus& c = corpus();
  ASSERT_EQ(c.nfc.size(), c.docs.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < c.docs.size(); ++i) {
    auto ids = tokenizer.encode(c.docs[i]);
    if (tokenizer.decode(ids) != c.nfc[i] && ++mismatches <= 5) ADD_FAILURE() << "document " << i << ": " << c.docs[i].substr(0, 300);
  }
  EXPECT_EQ(mismatches, 0u);
}

INSTANTIATE_TEST_SUITE_P(Qwen, HfParity, ::testing::Values("qwen2.5", "qwen3"),
                         [](const auto& info) { return info.param == "qwen2.5" ? std::string("Qwen25") : std::string("Qwen3"); });

}  // namespace
}  // namespace cotrain
