// Forward + backward of the mean next-token NLL (the fused chunked loss of model/loss.h) on one row of a
// Qwen2.5-0.5B-shaped model (random weights, fp32), timed per step. Prints one JSON line.
//   bench_model_step LAYERS SEQ_LEN STEPS THREADS [CHECKPOINTING 0|1]
#include <torch/torch.h>

#include <chrono>
#include <iostream>

#include "cotrain/model/logprobs.h"
#include "cotrain/model/loss.h"

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::cerr << "usage: bench_model_step LAYERS SEQ_LEN STEPS THREADS [CHECKPOINTING 0|1]\n";
    return 2;
  }
  const std::int64_t layers = std::stoll(argv[1]), seq_len = std::stoll(argv[2]), steps = std::stoll(argv[3]);
  torch::set_num_threads(std::stoi(argv[4]));
  auto config = cotrain::ModelConfig::from_json(
      {{"model_type", "qwen2"}, {"vocab_size", 151936}, {"hidden_size", 896}, {"intermediate_size", 4864},
       {"num_hidden_layers", layers}, {"num_attention_heads", 14}, {"num_key_value_heads", 2}, {"rope_theta", 1e6},
       {"tie_word_embeddings", true}},
      "bench");
  cotrain::CausalLM model(config, torch::kFloat32);
  cotrain::init_weights(model, 0.02, 0);
  model->train();
  model->activation_checkpointing = argc == 6 && std::string(argv[5]) == "1";
  auto ids = torch::randint(0, 151643, {seq_len}, torch::kInt64);
  std::vector<std::int64_t> doc(ids.data_ptr<std::int64_t>(), ids.data_ptr<std::int64_t>() + seq_len);
  auto row = cotrain::pack_documents({doc});
  std::vector<double> times;
  for (std::int64_t step = 0; step <= steps; ++step) {  // step 0 warms up
    auto start = std::chrono::steady_clock::now();
    model->zero_grad();
    auto hidden = model->hidden_states(row).squeeze(0);
    auto loss = cotrain::summed_nll(hidden, model->head_weight(), row.targets, cotrain::LossGradients::build) / static_cast<double>(seq_len - 1);
    loss.backward();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (step > 0) times.push_back(secs);
  }
  double total = 0;
  for (double t : times) total += t;
  std::cout << "{\"impl\": \"cotrain\", \"tokens_per_s\": " << static_cast<double>(seq_len * steps) / total
            << ", \"step_s\": " << total / static_cast<double>(steps) << "}" << std::endl;
  return 0;
}
