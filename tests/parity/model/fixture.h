// Reading the reference data of scripts/reference/<script>.py (made at test time under
// build/reference/<script>/<case>/) and the comparisons the model parity tests share.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
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

// MODEL's log-probs of the fixture's sequences, each run alone and all packed into one row,
// against the fixture's PREFIX<i>: the largest absolute differences.
struct Agreement {
  double alone = 0, packed = 0, packed_vs_alone = 0;
};

inline Agreement logprob_agreement(CausalLM& model, const Fixture& f, const std::string& prefix) {
  Agreement a;
  auto packed = packed_logprobs(model, f.sequences);
  for (std::size_t i = 0; i < f.sequences.size(); ++i) {
    auto ref = f.get(prefix + std::to_string(i));
    auto alone = packed_logprobs(model, {f.sequences[i]})[0];
    if (alone.numel() != ref.numel()) throw std::runtime_error("sequence " + std::to_string(i) + ": length differs from the fixture's");
    a.alone = std::max(a.alone, max_abs_diff(alone, ref));
    a.packed = std::max(a.packed, max_abs_diff(packed[i], ref));
    a.packed_vs_alone = std::max(a.packed_vs_alone, max_abs_diff(packed[i], alone));
  }
  return a;
}

// bf16 log-probs against the fixture's PREFIX<i>: the largest and the mean absolute difference.
inline std::pair<double, double> bf16_agreement(const std::vector<torch::Tensor>& got, const Fixture& f, const std::string& prefix) {
  double worst = 0, sum_abs = 0;
  std::int64_t count = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    auto ref = f.get(prefix + std::to_string(i));
    worst = std::max(worst, max_abs_diff(got[i], ref));
    sum_abs += (got[i].to(torch::kFloat64) - ref.to(torch::kFloat64)).abs().sum().item<double>();
    count += ref.numel();
  }
  return {worst, sum_abs / static_cast<double>(std::max<std::int64_t>(count, 1))};
}

}  // namespace cotrain::test
