// Causal attention of one layer's shape (Qwen2.5-0.5B: 14 query heads, 2 key/value heads, d 64),
// one document of --tokens, bf16, forward and backward timed apart: cotrain's CPU kernel
// (model/cpu_attention.h) against torch's scaled_dot_product_attention (its CPU flash kernel) in
// the same run. Useful FLOPs: 4 x heads x d x T^2 / 2 forward, twice that backward. One JSON line
// per kernel.
//   bench_attention [--tokens 8192] [--heads 14] [--kv-heads 2] [--dim 64] [--repeats 3] [--threads 2]
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "cotrain/model/cpu_attention.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Timing {
  double forward_s = 1e30, backward_s = 1e30;
};

// Best of REPEATS forward and backward passes of ATTENTION (after one warm-up).
Timing time_attention(const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>& attention,
                      const torch::Tensor& q0, const torch::Tensor& k0, const torch::Tensor& v0, const torch::Tensor& grad, int repeats) {
  Timing best;
  for (int rep = 0; rep <= repeats; ++rep) {
    auto q = q0.detach().requires_grad_(), k = k0.detach().requires_grad_(), v = v0.detach().requires_grad_();
    auto t = Clock::now();
    auto out = attention(q, k, v);
    const double forward = std::chrono::duration<double>(Clock::now() - t).count();
    t = Clock::now();
    out.backward(grad);
    const double backward = std::chrono::duration<double>(Clock::now() - t).count();
    if (rep == 0) continue;
    best.forward_s = std::min(best.forward_s, forward);
    best.backward_s = std::min(best.backward_s, backward);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t tokens = 8192, heads = 14, kv_heads = 2, dim = 64, repeats = 3, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const auto value = std::stoll(argv[i + 1]);
    if (flag == "--tokens") tokens = value;
    else if (flag == "--heads") heads = value;
    else if (flag == "--kv-heads") kv_heads = value;
    else if (flag == "--dim") dim = value;
    else if (flag == "--repeats") repeats = value;
    else if (flag == "--threads") threads = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!cotrain::cpu_flash_attention_runs_here()) {
    std::fprintf(stderr, "bench_attention: this CPU lacks AVX-512 BF16; cotrain's kernel does not run here\n");
    return 2;
  }
  at::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16);
  const auto q = torch::randn({1, heads, tokens, dim}, bf16), k = torch::randn({1, kv_heads, tokens, dim}, bf16),
             v = torch::randn({1, kv_heads, tokens, dim}, bf16), grad = torch::randn({1, heads, tokens, dim}, bf16);
  const double forward_flop = 4.0 * static_cast<double>(heads * dim) * static_cast<double>(tokens) * static_cast<double>(tokens) / 2;
  auto report = [&](const char* kernel, const Timing& t) {
    std::printf("%s\n", fmt::format("{{\"kernel\": \"{}\", \"tokens\": {}, \"threads\": {}, \"forward_s\": {:.4f}, \"backward_s\": {:.4f}, "
                                    "\"forward_gflops\": {:.1f}, \"backward_gflops\": {:.1f}}}",
                                    kernel, tokens, threads, t.forward_s, t.backward_s, forward_flop / t.forward_s / 1e9,
                                    2 * forward_flop / t.backward_s / 1e9)
                            .c_str());
  };
  report("cotrain", time_attention([](const auto& a, const auto& b, const auto& c) { return *cotrain::cpu_flash_attention(a, b, c); }, q, k, v,
                                   grad, static_cast<int>(repeats)));
  report("torch_sdpa", time_attention(
                           [](const auto& a, const auto& b, const auto& c) {
                             return at::scaled_dot_product_attention(a, b, c, {}, 0.0, /*is_causal=*/true, std::nullopt, /*enable_gqa=*/true);
                           },
                           q, k, v, grad, static_cast<int>(repeats)));
  return 0;
}
