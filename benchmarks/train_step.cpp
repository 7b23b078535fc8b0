// Training steps of the Qwen2.5-0.5B shape (or 1.5B's: --size 1.5b; random weights) through the trainer's own parts
// (ShardedModel on one process, the unit-by-unit forward with the fused chunked loss, fused AdamW
// over fp32 masters: what `cotrain sft|lora` runs per step), and in the same run the machine's
// matmul peak, measured on the MLP's shape (2048x896 @ 896x4864) on a CPU, on 8192^3 products on
// a GPU (the MLP's shape is too small to fill one), before and after the steps, the higher of the
// two (a VM that slows down for a while would otherwise give a low peak and flattering fractions,
// docs/performance.md). Prints one JSON line: the achieved FLOP/s and
// its fraction of the peak of the run's dtype, and the best step's split into forward (with the
// fused loss's gradients), backward and optimizer (norm, AdamW, zeroing).
//   bench_train_step [--mode sft|lora] [--dtype bf16|fp32] [--tokens 2048] [--docs 1] [--layers 24]
//                    [--steps 3] [--threads 2] [--checkpointing 0|1] [--rank 64] [--profile FILE]
//                    [--profile-table N] [--device cpu|cuda] [--spec-tflops X] [--size 0.5b|1.5b]
//                    [--vary-lengths 0|1] [--sdpa-only 0|1]
// (--layers defaults to the size's own: 24 for 0.5B, 28 for 1.5B.)
// --vary-lengths 1 makes every step's documents 64 tokens shorter than the last one's (--tokens
// is the first step's row), as unpacked training's rows differ from step to step: a kernel that
// plans per shape (cuDNN's attention) pays for a plan in every step. --sdpa-only 1 turns the
// varlen flash path off (SDPA's flash backend off), so attention is SDPA's per document: cuDNN's
// on a Hopper GPU with a recent cuDNN, to compare with the flash kernel the decoder takes there.
// --profile writes the last step's operator trace (chrome://tracing JSON) to FILE; --profile-table
// prints the last step's N largest operators by self time (their time less that of the operators
// they called), grouped by name and input shapes, on stderr (our kernels and MKL's products are
// named in it with RECORD_FUNCTION); on a GPU, by the GPU time between CUDA events recorded
// around each operator. On a GPU the line has the peak tensor memory, and with --spec-tflops (the datasheet's dense peak of the
// dtype, e.g. 989 for an H100/H200 SXM in bf16) the MFU: achieved FLOP/s over that peak.
// FLOPs counted are the useful ones (recomputation under activation checkpointing is not work
// done for the step): per token, forward = 2 x (every linear weight) + attention (2 x T_doc x
// heads x head_dim per layer for causal QK^T and PV, T_doc the document's length); backward =
// 2 x forward for full SFT; for LoRA the frozen weights need input gradients only (1 x their
// forward), the adapters 2 x theirs, attention 2 x its forward.
#include <fmt/format.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cotrain/model/causal_lm.h"
#include "cotrain/model/logprobs.h"
#include "cotrain/model/lora.h"
#include "cotrain/model/loss.h"
#include "cotrain/train/distributed.h"
#include "cotrain/train/run_files.h"
#include "cotrain/train/sharding.h"
#include "cotrain/train/unit_forward.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A GPU runs asynchronously: its clock readings wait for the work queued so far.
void wait_for(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// Best FLOP/s of DTYPE matmuls on DEVICE (the MLP's shape on a CPU, 8192^3 on a GPU), over a few
// repetitions after a warm-up.
double matmul_peak(torch::ScalarType dtype, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const std::int64_t m = device.is_cpu() ? 2048 : 8192, k = device.is_cpu() ? 896 : 8192, n = device.is_cpu() ? 4864 : 8192;
  auto options = torch::TensorOptions().dtype(dtype).device(device);
  auto a = torch::randn({m, k}, options), b = torch::randn({k, n}, options);
  double best = 0;
  for (int rep = 0; rep < 12; ++rep) {
    wait_for(device);
    auto t = Clock::now();
    auto c = torch::mm(a, b);
    wait_for(device);
    const double s = seconds_since(t);
    if (rep >= 2) best = std::max(best, 2.0 * static_cast<double>(m * k * n) / s);
  }
  return best;
}

// The operators of LISTS by self time, grouped by name and input shapes: the ROWS largest, one
// line each. With GPU, the times are the GPU's (CUDA events around each operator: its kernels, and
// any wait for the host to queue them).
void print_self_times(const torch::autograd::profiler::thread_event_lists& lists, std::size_t rows, bool gpu) {
  using torch::autograd::profiler::EventKind;
  using torch::autograd::profiler::LegacyEvent;
  std::map<std::string, std::pair<double, int>> self_ms;  // key -> (ms, calls)
  double total_ms = 0;
  for (const auto& events : lists) {
    std::vector<std::pair<const LegacyEvent*, double>> open;  // a push and its children's microseconds
    for (const auto& e : events) {
      if (e.kind() == EventKind::PushRange) open.emplace_back(&e, 0.0);
      if (e.kind() != EventKind::PopRange || open.empty()) continue;
      const auto [push, children_us] = open.back();
      open.pop_back();
      const double us = gpu && push->hasCuda() ? push->cudaElapsedUs(e) : push->cpuElapsedUs(e);
      std::string key = push->name();
      for (const auto& shape : push->shapes()) {
        std::string dims;
        for (const auto d : shape) dims += fmt::format("{}{}", dims.empty() ? "" : ",", d);
        key += fmt::format(" [{}]", dims);
      }
      auto& [ms, calls] = self_ms[key];
      ms += (us - children_us) / 1e3;
      ++calls;
      if (open.empty()) total_ms += us / 1e3;
      else open.back().second += us;
    }
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> sorted(self_ms.begin(), self_ms.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::fprintf(stderr, "%s self ms  calls  operator [input shapes]   (all operators: %.1f ms)\n", gpu ? "GPU" : "CPU", total_ms);
  for (std::size_t i = 0; i < std::min(rows, sorted.size()); ++i) {
    std::fprintf(stderr, "%8.1f %6d  %s\n", sorted[i].second.first, sorted[i].second.second, sorted[i].first.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cotrain;
  std::string mode = "sft", dtype_name = "bf16", profile, device_name = "cpu", size = "0.5b";
  std::int64_t tokens = 2048, docs = 1, layers = 0, steps = 3, threads = 2, rank = 64, profile_rows = 0;
  double spec_tflops = 0;
  bool checkpointing = false, vary_lengths = false, sdpa_only = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--mode") mode = value;
    else if (flag == "--dtype") dtype_name = value;
    else if (flag == "--tokens") tokens = std::stoll(value);
    else if (flag == "--docs") docs = std::stoll(value);
    else if (flag == "--layers") layers = std::stoll(value);
    else if (flag == "--steps") steps = std::stoll(value);
    else if (flag == "--threads") threads = std::stoll(value);
    else if (flag == "--checkpointing") checkpointing = value == "1";
    else if (flag == "--rank") rank = std::stoll(value);
    else if (flag == "--profile") profile = value;
    else if (flag == "--profile-table") profile_rows = std::stoll(value);
    else if (flag == "--device") device_name = value;
    else if (flag == "--spec-tflops") spec_tflops = std::stod(value);
    else if (flag == "--size") size = value;
    else if (flag == "--vary-lengths") vary_lengths = value == "1";
    else if (flag == "--sdpa-only") sdpa_only = value == "1";
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if ((mode != "sft" && mode != "lora") || (dtype_name != "bf16" && dtype_name != "fp32") || tokens % docs != 0 ||
      (device_name != "cpu" && device_name != "cuda") || (size != "0.5b" && size != "1.5b") ||
      (vary_lengths && tokens / docs <= 64 * (steps + 1))) {
    std::fprintf(stderr, "usage: see the top of benchmarks/train_step.cpp\n");
    return 2;
  }
  at::set_num_threads(static_cast<int>(threads));
  if (sdpa_only) at::globalContext().setSDPUseFlash(false);
  const auto dtype = dtype_name == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  const torch::Device device = device_name == "cuda" ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  const double peak_before = matmul_peak(dtype, device);

  // Qwen2.5-0.5B's and -1.5B's config.json (both tie the head to the embedding).
  const bool small = size == "0.5b";
  if (layers == 0) layers = small ? 24 : 28;
  const ModelConfig c = ModelConfig::from_json({{"model_type", "qwen2"},
                                                {"vocab_size", 151936},
                                                {"hidden_size", small ? 896 : 1536},
                                                {"intermediate_size", small ? 4864 : 8960},
                                                {"num_hidden_layers", layers},
                                                {"num_attention_heads", small ? 14 : 12},
                                                {"num_key_value_heads", 2},
                                                {"rope_theta", 1e6},
                                                {"tie_word_embeddings", true}},
                                               "bench");
  CausalLM model(c, torch::TensorOptions().dtype(dtype).device(device));
  init_weights(model, 0.02, 0);
  model->train();
  model->activation_checkpointing = checkpointing;
  std::int64_t adapter_params = 0;
  if (mode == "lora") {
    add_lora(model, LoraSettings{rank, 2.0 * static_cast<double>(rank), 0.0, false, {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}, 0);
    for (auto& item : lora_parameters(model)) adapter_params += item.value().numel();
  }

  // Useful FLOPs of a step of TOKENS tokens in documents of DOC_LEN.
  const double h = static_cast<double>(c.hidden_size), kv = static_cast<double>(c.num_kv_heads * c.head_dim),
               q = static_cast<double>(c.num_heads * c.head_dim), ff = static_cast<double>(c.intermediate_size);
  const double linear = static_cast<double>(layers) * (h * q + 2 * h * kv + q * h + 3 * h * ff) + h * static_cast<double>(c.vocab_size);
  auto step_flops = [&](std::int64_t step_tokens, std::int64_t doc_len) {
    const double attention = static_cast<double>(layers) * 2.0 * static_cast<double>(doc_len) * q;  // per token, forward
    const double per_token = mode == "sft" ? 3 * (2 * linear + attention)
                                           : 2 * (2 * linear) + 3 * attention + 6 * static_cast<double>(adapter_params);
    return per_token * static_cast<double>(step_tokens);
  };

  ProcessGroup pg(device);
  ShardOptions options;
  DecoderUnits units = decoder_units(*model);
  ShardedModel sharded(pg, units.units, options);
  auto make_row = [&](std::int64_t doc_len) {
    std::vector<std::vector<std::int64_t>> rows(static_cast<std::size_t>(docs), std::vector<std::int64_t>(static_cast<std::size_t>(doc_len)));
    for (std::size_t d = 0; d < rows.size(); ++d) {
      for (std::size_t t = 0; t < rows[d].size(); ++t) rows[d][t] = static_cast<std::int64_t>((t * 7919 + d * 104729) % 151643);
    }
    return pack_documents(rows);
  };
  PackedRow row = make_row(tokens / docs);
  double best = std::numeric_limits<double>::infinity(), forward_s = 0, backward_s = 0, optimizer_s = 0;  // the best step's
  std::int64_t best_doc_len = tokens / docs;
  for (std::int64_t step = 0; step <= steps; ++step) {  // step 0 warms up
    if (vary_lengths) row = make_row(tokens / docs - 64 * step);
    std::unique_ptr<torch::autograd::profiler::RecordProfile> recording;
    if (!profile.empty() && step == steps) recording = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
    const bool table = profile_rows > 0 && step == steps;
    if (table) {
      torch::autograd::profiler::enableProfilerLegacy(
          torch::autograd::profiler::ProfilerConfig(device.is_cuda() ? torch::autograd::profiler::ProfilerState::CUDA
                                                                     : torch::autograd::profiler::ProfilerState::CPU,
                                                    /*report_input_shapes=*/true));
    }
    wait_for(device);
    const auto t = Clock::now();
    torch::Tensor nll = unit_summed_nll(model, sharded, units, row, LossGradients::build);
    wait_for(device);
    const double f = seconds_since(t);
    sharded.begin_backward(true);
    (nll / static_cast<double>(row.target_tokens)).backward();
    sharded.finish_backward();
    wait_for(device);
    const double b = seconds_since(t) - f;
    const double norm = sharded.grad_norm();
    sharded.step(1e-5, std::min(1.0, 1.0 / (norm + 1e-6)));
    sharded.zero_grad();
    wait_for(device);
    const double total = seconds_since(t);
    if (table) print_self_times(torch::autograd::profiler::disableProfilerLegacy(), static_cast<std::size_t>(profile_rows), device.is_cuda());
    if (step > 0 && total < best) best = total, forward_s = f, backward_s = b, optimizer_s = total - f - b, best_doc_len = row.cu_seqlens.back() / docs;
  }
  const double peak = std::max(peak_before, matmul_peak(dtype, device));
  const std::int64_t best_tokens = best_doc_len * docs;
  const double flops = step_flops(best_tokens, best_doc_len), achieved = flops / best;
  std::string gpu_fields;
  if (const auto mib = peak_device_memory_mib(device.str())) gpu_fields += fmt::format(", \"peak_device_memory_mib\": {:.0f}", *mib);
  if (spec_tflops > 0) gpu_fields += fmt::format(", \"spec_tflops\": {:.1f}, \"mfu\": {:.3f}", spec_tflops, achieved / (spec_tflops * 1e12));
  std::printf("%s\n", fmt::format("{{\"impl\": \"cotrain\", \"device\": \"{}\", \"mode\": \"{}\", \"size\": \"{}\", \"dtype\": \"{}\", \"layers\": {}, \"tokens\": {}, \"docs\": {}, "
                                  "\"checkpointing\": {}, \"threads\": {}, \"step_s\": {:.3f}, \"forward_s\": {:.3f}, \"backward_s\": {:.3f}, \"optimizer_s\": {:.3f}, \"tokens_per_s\": {:.1f}, "
                                  "\"step_tflop\": {:.3f}, \"achieved_gflops\": {:.1f}, \"matmul_peak_gflops\": {:.1f}, "
                                  "\"fraction_of_peak\": {:.3f}, \"vary_lengths\": {}, \"sdpa_only\": {}{}}}",
                                  device.str(), mode, size, dtype_name, layers, best_tokens, docs, checkpointing, threads, best, forward_s, backward_s, optimizer_s,
                                  static_cast<double>(best_tokens) / best, flops / 1e12, achieved / 1e9, peak / 1e9, achieved / peak, vary_lengths, sdpa_only, gpu_fields)
                          .c_str());
  return 0;
}
