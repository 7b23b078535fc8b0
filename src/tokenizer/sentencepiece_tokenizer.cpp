#include "cotrain/tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"
#include "cotrain/tokenizer/unicode.h"

namespace cotrain {

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  check_input_file(model);  // libsentencepiece would block on a FIFO
  auto status = processor_->Load(model.string());
  if (!status.ok()) fail_input("{}: not a sentencepiece model ({})", model.string(), status.ToString());
  std::vector<std::pair<std::string, TokenId>> controls;
  for (int id = 0; id < processor_->GetPieceSize(); ++id) {
    if (processor_->IsControl(id)) controls.emplace_back(processor_->IdToPiece(id), id);
  }
  control_matcher_ = AddedTokenMatcher(std::move(controls));
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::vector<TokenId> SentencePieceTokenizer::encode(std::string_view text, bool parse_special) const {
  std::string storage;
  text = unicode::valid_utf8(text, storage);
  std::vector<TokenId> out;
  auto encode_run = [&](std::string_view run) {
    std::vector<int> ids;
    auto status = processor_->Encode(run, &ids);
    if (!status.ok()) fail_runtime("sentencepiece encode failed: {}", status.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  };
  if (!parse_special) {
    encode_run(text);
  } else {
    control_matcher_.visit(text, [&](TokenId id, std::string_view) { out.push_back(id); }, encode_run);
  }
  return out;
}

std::string SentencePieceTokenizer::decode(std::span<const TokenId> ids, bool skip_special) const {
  std::string text;
  std::vector<int> run;
  auto flush = [&] {
    if (run.empty()) return;
    std::string piece_text;
    auto status = processor_->Decode(run, &piece_text);
    if (!status.ok()) fail_runtime("sentencepiece decode failed: {}", status.ToString());
    text += piece_text;
    run.clear();
  };
  for (TokenId id : ids) {
    if (id < 0 || id >= processor_->GetPieceSize()) {
      fail_input("token id {} out of range (vocabulary size {})", id, processor_->GetPieceSize());
    }
    if (processor_->IsControl(id)) {  // sentencepiece drops these; HF writes them unless skipping
      flush();
      if (!skip_special) text += processor_->IdToPiece(id);
    } else {
      run.push_back(id);
    }
  }
  flush();
  if (!unicode::is_valid_utf8(text)) text = unicode::repair_utf8(text);
  return text;
}

std::vector<TokenId> SentencePieceTokenizer::add_special_tokens(std::vector<TokenId> ids) const {
  if (processor_->bos_id() >= 0) ids.insert(ids.begin(), processor_->bos_id());
  return ids;
}

std::string SentencePieceTokenizer::token_bytes(TokenId id) const {
  if (id < 0 || id >= processor_->GetPieceSize()) return {};
  std::string piece = processor_->IdToPiece(id);
  if (processor_->IsByte(id)) return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  std::string bytes;
  for (std::size_t i = 0; i < piece.size();) {
    if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {  // "▁" stands for a space
      bytes += ' ';
      i += 3;
    } else {
      bytes += piece[i++];
    }
  }
  return bytes;
}

std::size_t SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }

TokenId SentencePieceTokenizer::token_to_id(std::string_view token) const {
  int id = processor_->PieceToId(token);
  return processor_->IsUnknown(id) && processor_->IdToPiece(id) != token ? -1 : id;
}

std::string SentencePieceTokenizer::id_to_token(TokenId id) const {
  return id >= 0 && id < processor_->GetPieceSize() ? processor_->IdToPiece(id) : std::string();
}

bool SentencePieceTokenizer::is_special(TokenId id) const {
  return id >= 0 && id < processor_->GetPieceSize() && (processor_->IsControl(id) || processor_->IsUnknown(id));
}

}  // namespace cotrain
