// Reading the reference data of scripts/reference/<script>.py (made at test time under
// build/reference/<script>/<case>/) and the comparisons the model parity tests share.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cotrain/core/jsonl.h"
#include "cotrain/io/safetensors.h"
#include "cotrain/model/logprobs.h"
#include "cotrain/model/weights.h"

namespace cotrain::test {

struct Fixture {
  std::filesystem::path dir;
  nlohmann::json inputs;
  std::vector<std::vector<std::int64_t>> sequences;
  std::shared_ptr<const SafetensorsFile> expected;

  bool has(const std::string& name) const { return expected->find(name) != nullptr; }
  torch::Tensor get(const std::string& name) const {
    const auto* info = expected->find(name);
    if (!info) throw std::runtime_error("fixture has no " + name);
    return tensor_view(*expected, *info, expected).clone();
  }
};

inline Fixture load_fixture(const std::string& script, const std::string& name) {
  Fixture f;
  f.dir = std::filesystem::path(COTRAIN_BINARY_DIR) / "reference" / script / name;
  f.inputs = read_json_file(f.dir / "inputs.json");
  f.sequences = f.inputs["sequences"].get<std::vector<std::vector<std::int64_t>>>();
  f.expected = SafetensorsFile::open(f.dir / "expected.safetensors");
  return f;
}

// Log-probs of each sequence from one packed row holding all of them.
inline std::vector<torch::Tensor> packed_logprobs(CausalLM& model, const std::vector<std::vector<std::int64_t>>& seqs,
                                                  torch::Tensor* total_nll = nullptr) {
  auto row = pack_documents(seqs);
  auto lp = row_logprobs(model, row, /*chunk=*/37);  // a chunk size that splits documents
  if (total_nll) *total_nll = -lp.sum();
  std::vector<torch::Tensor> out;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    out.push_back(lp.narrow(0, row.cu_seqlens[i], static_cast<std::int64_t>(seqs[i].size()) - 1));
  }
  return out;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return a.numel() == 0 ? 0.0 : (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

inline double rel_diff(const torch::Tensor& got, const torch::Tensor& ref) {
  auto g = got.to(torch::kFloat64), r = ref.to(torch::kFloat64);
  return (g - r).norm().item<double>() / std::max(r.norm().item<double>(), 1e-12);
}

}  // namespace cotrain::test
