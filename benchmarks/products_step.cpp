// Why the decoder's products run slower inside a training step than alone: one product shape
// (default the gate projection of Qwen2.5-0.5B at 2,048 tokens, y = x W^T in bf16, torch's matmul)
// timed over --layers operand sets, with the inputs and the output each either one set reused
// (hot in the caches, as a product measured alone) or a fresh set per layer (cold, as in a step,
// where every layer's weights come from memory and its output is a new activation). Also the
// head's weight gradient (MKL's fp32 A^T B over the tokens, model/weight_gradient.h) with rows of
// the softmax gradient 8 KB apart (a 4,096-row vocabulary block) and 64 bytes longer, cold.
// And the weight gradient of that shape (GRAD^T X over the tokens, cold) both ways an AMX CPU can
// take it: MKL's fp32 product of GRAD's transposed view, then rounded to bf16; oneDNN's bf16
// product of GRAD transposed first by cpu_transpose (model/weight_gradient.h: for non-square weights).
// And LoRA's rank-64 products over a layer's output gradient or output (model/cpu_low_rank.h,
// GRAD B by torch's matmul), cold and hot.
// One JSON line per case, GFLOP/s of the best of --repeats passes over the layers (docs/performance.md).
//   bench_products [--tokens 2048] [--in 896] [--out 4864] [--layers 24] [--repeats 3] [--threads 2]
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "cotrain/model/cpu_elementwise.h"
#include "cotrain/model/cpu_low_rank.h"
#include "cotrain/model/lean_ops.h"
#include "cotrain/model/loss.h"
#include "cotrain/model/weight_gradient.h"

namespace {

using Clock = std::chrono::steady_clock;

// Best seconds per call of BODY(layer) over REPEATS passes through the layers (after one warm-up).
double per_call(std::int64_t layers, std::int64_t repeats, const std::function<void(std::int64_t)>& body) {
  double best = 1e30;
  for (std::int64_t rep = 0; rep <= repeats; ++rep) {
    const auto t = Clock::now();
    for (std::int64_t i = 0; i < layers; ++i) body(i);
    const double s = std::chrono::duration<double>(Clock::now() - t).count() / static_cast<double>(layers);
    if (rep > 0) best = std::min(best, s);
  }
  return best;
}

void report(const std::string& name, double flop, double seconds) {
  std::printf("%s\n", fmt::format("{{\"case\": \"{}\", \"ms_per_call\": {:.2f}, \"gflops\": {:.0f}}}", name, seconds * 1e3,
                                  flop / seconds / 1e9)
                          .c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t tokens = 2048, in = 896, out = 4864, layers = 24, repeats = 3, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const auto value = std::stoll(argv[i + 1]);
    if (flag == "--tokens") tokens = value;
    else if (flag == "--in") in = value;
    else if (flag == "--out") out = value;
    else if (flag == "--layers") layers = value;
    else if (flag == "--repeats") repeats = value;
    else if (flag == "--threads") threads = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  at::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  std::vector<torch::Tensor> x, w, y;
  for (std::int64_t i = 0; i < layers; ++i) {
    x.push_back(torch::randn({tokens, in}).to(torch::kBFloat16));
    w.push_back(torch::randn({out, in}).to(torch::kBFloat16));
    y.push_back(torch::empty({tokens, out}, bf16));
  }
  const double flop = 2.0 * static_cast<double>(tokens * in * out);
  for (const bool cold_inputs : {false, true}) {
    for (const bool cold_output : {false, true}) {
      const double s = per_call(layers, repeats, [&](std::int64_t i) {
        const auto k = cold_inputs ? i : 0;
        at::mm_out(y[cold_output ? i : 0], x[k], w[k].t());
      });
      report(fmt::format("x W^T [{},{}]x[{},{}]: inputs {}, output {}", tokens, in, in, out, cold_inputs ? "cold" : "hot",
                         cold_output ? "cold" : "hot"),
             flop, s);
    }
  }

  // The same product as training makes it, cotrain::linear's forward (model/lean_ops.h: in two
  // halves of the weight's rows past 4,096 output features, where oneDNN blocks this shape
  // faster), each output fresh from the allocator as in a step.
  auto trained = w[0].detach().requires_grad_(true);
  const double halves = per_call(layers, repeats, [&](std::int64_t) { cotrain::linear(x[0], trained); });
  report("inputs hot, output fresh, cotrain::linear", flop, halves);

  if (!cotrain::mkl_bf16_products_here()) return 0;
  std::vector<torch::Tensor> grad;
  for (std::int64_t i = 0; i < layers; ++i) grad.push_back(torch::randn({tokens, out}).to(torch::kBFloat16));
  const double mkl = per_call(layers, repeats, [&](std::int64_t i) {
    auto sums = torch::empty({out, in});
    cotrain::transposed_product_into(sums, grad[i], x[i], /*accumulate=*/false);
    sums.to(torch::kBFloat16);
  });
  report(fmt::format("dW [{},{}]: MKL of grad^T as it lies, fp32, then bf16", out, in), flop, mkl);
  if (cotrain::cpu_elementwise_applies({})) {
    report(fmt::format("dW [{},{}]: cpu_transpose(grad), then oneDNN", out, in), flop,
           per_call(layers, repeats, [&](std::int64_t i) { at::mm(cotrain::cpu_transpose(grad[i]), x[i]); }));
    report(fmt::format("dW [{},{}]: cpu_transpose(grad) alone", out, in), flop,
           per_call(layers, repeats, [&](std::int64_t i) { cotrain::cpu_transpose(grad[i]); }));
  }

  // LoRA's rank-64 products over an adapted layer's output gradient (model/lean_ops.cpp):
  // GRAD B [tokens, r] and GRAD^T R [out, r], GRAD cold.
  constexpr std::int64_t kRank = 64;
  const auto rank_rows = torch::randn({tokens, kRank}).to(torch::kBFloat16);
  const auto lora_b = torch::randn({out, kRank}).to(torch::kBFloat16);
  const double rank_flop = 2.0 * static_cast<double>(tokens * out * kRank);
  report(fmt::format("LoRA grad B [{},{}]x[{},{}], grad cold", tokens, out, out, kRank), rank_flop,
         per_call(layers, repeats, [&](std::int64_t i) { grad[i].mm(lora_b); }));
  if (cotrain::cpu_low_rank_sum_applies(grad[0], rank_rows, lora_b.t())) {
    report(fmt::format("LoRA sum += R B^T [{},{}]x[{},{}] (cpu_add_low_rank_product_), sum cold", tokens, kRank, kRank, out), rank_flop,
           per_call(layers, repeats, [&](std::int64_t i) { cotrain::cpu_add_low_rank_product_(grad[i], rank_rows, lora_b.t()); }));
    report(fmt::format("LoRA sum += R B^T [{},{}]x[{},{}] (cpu_add_low_rank_product_), sum hot", tokens, kRank, kRank, out), rank_flop,
           per_call(layers, repeats, [&](std::int64_t) { cotrain::cpu_add_low_rank_product_(grad[0], rank_rows, lora_b.t()); }));
  }
  if (cotrain::cpu_low_rank_gradient_applies(rank_rows, grad[0])) {
    report(fmt::format("LoRA R^T grad [{},{}]^T[{},{}] (cpu_low_rank_gradient), grad cold", tokens, kRank, tokens, out), rank_flop,
           per_call(layers, repeats, [&](std::int64_t i) { cotrain::cpu_low_rank_gradient(rank_rows, grad[i]); }));
    report(fmt::format("LoRA R^T grad [{},{}]^T[{},{}] (cpu_low_rank_gradient), grad hot", tokens, kRank, tokens, out), rank_flop,
           per_call(layers, repeats, [&](std::int64_t) { cotrain::cpu_low_rank_gradient(rank_rows, grad[0]); }));
  }

  // The head's weight gradient of one vocabulary block, a fresh block of the softmax gradient and a
  // fresh fp32 output per call, as in the fused loss.
  constexpr std::int64_t kBlock = cotrain::kLossVocabBlock;
  std::vector<torch::Tensor> grad_head;
  for (std::int64_t i = 0; i < layers; ++i) grad_head.push_back(torch::empty({kBlock, in}));
  for (const std::int64_t padding : {0, 32}) {
    std::vector<torch::Tensor> softmax_grad;
    for (std::int64_t i = 0; i < layers; ++i) {
      softmax_grad.push_back(torch::randn({tokens, kBlock + padding}).to(torch::kBFloat16).narrow(1, 0, kBlock));
    }
    const double s = per_call(layers, repeats, [&](std::int64_t i) {
      cotrain::transposed_product_into(grad_head[i], softmax_grad[i], x[0], /*accumulate=*/false);
    });
    report(fmt::format("head dW [{},{}]^T x [{},{}], rows {} bytes apart", tokens, kBlock, tokens, in, (kBlock + padding) * 2),
           2.0 * static_cast<double>(tokens * kBlock * in), s);
  }
  return 0;
}
