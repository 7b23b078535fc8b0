// Data-parallel training steps of a small random model, to measure what overlapping the gradient
// reduction with the backward pass buys (benchmarks/data_parallel_overlap.sh launches it with
// torchrun, alternating --overlap 1 and 0). Rank 0 prints one JSON line with the step times.
//   bench_data_parallel --mode none|optimizer|grads --overlap 0|1 [--layers 4] [--hidden 512]
//                       [--seq-len 512] [--steps 6] [--threads 1]
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cotrain/core/error.h"
#include "cotrain/model/causal_lm.h"
#include "cotrain/model/logprobs.h"
#include "cotrain/model/loss.h"
#include "cotrain/train/distributed.h"
#include "cotrain/train/launch.h"
#include "cotrain/train/sharding.h"

int main(int argc, char** argv) {
  using namespace cotrain;
  using torch::Tensor;
  std::string mode = "none";
  bool overlap = true;
  std::int64_t layers = 4, hidden = 512, seq_len = 512, steps = 6, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--mode") mode = value;
    else if (flag == "--overlap") overlap = value == "1";
    else if (flag == "--layers") layers = std::stoll(value);
    else if (flag == "--hidden") hidden = std::stoll(value);
    else if (flag == "--seq-len") seq_len = std::stoll(value);
    else if (flag == "--steps") steps = std::stoll(value);
    else if (flag == "--threads") threads = std::stoll(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    at::set_num_threads(static_cast<int>(threads));
    ProcessGroup pg = ProcessGroup::join(launch_info_from_env(), torch::kCPU, 600);
    ModelConfig c;
    c.vocab_size = 8192;
    c.hidden_size = hidden;
    c.intermediate_size = hidden * 11 / 4;
    c.num_layers = layers;
    c.num_heads = hidden / 64;
    c.num_kv_heads = std::max<std::int64_t>(1, hidden / 256);
    c.head_dim = 64;
    c.qkv_bias = true;
    CausalLM model(c, torch::TensorOptions().dtype(torch::kFloat32));
    init_weights(model, 0.02, 7);
    std::int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();

    ShardOptions options;
    options.mode = parse_shard_mode(mode);
    options.overlap = overlap;
    DecoderUnits units = decoder_units(*model);
    ShardedModel sharded(pg, units.units, options);

    std::vector<std::vector<std::int64_t>> docs{std::vector<std::int64_t>(static_cast<std::size_t>(seq_len))};
    for (std::size_t t = 0; t < docs[0].size(); ++t) docs[0][t] = static_cast<std::int64_t>((t * 7919 + pg.rank()) % 8192);
    PackedRow row = pack_documents(docs);
    Tensor targets = row.targets;
    std::vector<double> step_s, backward_s;
    for (std::int64_t step = 0; step <= steps; ++step) {  // step 0 warms up
      pg.barrier("step start");
      auto t0 = std::chrono::steady_clock::now();
      Tensor hidden_states = model->hidden_states(row).view({-1, hidden});
      Tensor nll = summed_nll(hidden_states, model->head_weight(), targets, LossGradients::build);
      sharded.begin_backward(true);
      auto t1 = std::chrono::steady_clock::now();
      (nll / static_cast<double>(seq_len * pg.world_size())).backward();
      sharded.finish_backward();
      auto t2 = std::chrono::steady_clock::now();
      double norm = sharded.grad_norm();
      sharded.step(1e-4, std::min(1.0, 1.0 / (norm + 1e-6)));
      sharded.zero_grad();
      auto t3 = std::chrono::steady_clock::now();
      if (step > 0) {
        step_s.push_back(std::chrono::duration<double>(t3 - t0).count());
        backward_s.push_back(std::chrono::duration<double>(t2 - t1).count());
      }
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    if (pg.is_main()) {
      std::printf("%s\n", fmt::format("{{\"mode\": \"{}\", \"overlap\": {}, \"ranks\": {}, \"params\": {}, "
                                      "\"grad_groups\": {}, \"seq_len\": {}, \"threads\": {}, "
                                      "\"step_s\": {:.4f}, \"backward_and_reduce_s\": {:.4f}}}",
                                      mode, overlap, pg.world_size(), params, sharded.num_groups(), seq_len,
                                      threads, median(step_s), median(backward_s))
                              .c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
