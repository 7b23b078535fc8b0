#include "cotrain/model/activation_checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "cotrain/model/logprobs.h"
#include "cotrain/model/lora.h"
#include "cotrain/model/loss.h"
#include "unit/model/tiny_models.h"

namespace cotrain {
namespace {

using test::random_model;

PackedRow some_row() {
  return pack_documents({{5, 17, 33, 2, 90, 41, 8, 8, 60, 3, 71, 12, 6, 66, 1}, {4, 4, 19, 50, 23}, {7, 9, 11}});
}

// Whether the autograd graph behind T holds a node called NAME.
bool graph_has(const torch::Tensor& t, const std::string& name) {
  std::vector<torch::autograd::Node*> todo;
  std::set<torch::autograd::Node*> seen;
  if (t.grad_fn()) todo.push_back(t.grad_fn().get());
  while (!todo.empty()) {
    auto* node = todo.back();
    todo.pop_back();
    if (!seen.insert(node).second) continue;
    if (node->name().find(name) != std::string::npos) return true;
    for (const auto& edge : node->next_edges()) {
      if (edge.function) todo.push_back(edge.function.get());
    }
  }
  return false;
}

// Gradients of the summed NLL of one packed row, by parameter name (undefined when none).
std::map<std::string, torch::Tensor> gradients(CausalLM& model, bool checkpointing, bool* recomputed = nullptr) {
  model->zero_grad();
  model->activation_checkpointing = checkpointing;
  auto row = some_row();
  auto hidden = model->hidden_states(row);
  if (recomputed) *recomputed = graph_has(hidden, "CheckpointedLayer");
  summed_nll(hidden.squeeze(0), model->head_weight(), row.targets, LossGradients::build).backward();
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : model->named_parameters()) {
    out[item.key()] = item.value().grad().defined() ? item.value().grad().clone() : torch::Tensor();
  }
  return out;
}

// Recomputation runs the same kernels on the same inputs, so the gradients are equal to the
// last bit; the test allows 1e-6 relative for a summation order a future kernel might change.
void expect_same(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  for (const auto& [name, ga] : a) {
    const auto& gb = b.at(name);
    ASSERT_EQ(ga.defined(), gb.defined()) << name;
    if (!ga.defined()) continue;
    double rel = (ga - gb).norm().item<double>() / std::max(gb.norm().item<double>(), 1e-30);
    EXPECT_LE(rel, 1e-6) << name;
  }
}

TEST(ActivationCheckpointing, FullFineTuneGradientsEqualThoseWithout) {
  for (auto arch : {Arch::Qwen2, Arch::Qwen3, Arch::Llama}) {
    auto model = random_model(arch, /*tied=*/arch == Arch::Qwen2);
    model->train();
    bool plain_recomputed = true, recomputed = false;
    auto plain = gradients(model, false, &plain_recomputed);
    auto checkpointed = gradients(model, true, &recomputed);
    EXPECT_FALSE(plain_recomputed);
    EXPECT_TRUE(recomputed);
    expect_same(plain, checkpointed);
    for (const auto& [name, g] : checkpointed) EXPECT_TRUE(g.defined()) << name;
  }
}

TEST(ActivationCheckpointing, RecomputesTheSameLoraDropoutMasks) {
  auto model = random_model(Arch::Qwen2);
  add_lora(model, test::lora_settings({"all-linear"}, 4, 8, false, /*dropout=*/0.3), 1);
  test::randomize_lora_b(model, 2, 0.3);
  model->train();
  auto& generator = model->lora_dropout_generator;
  auto start = generator.get_state();
  auto plain = gradients(model, false);
  auto after_plain = generator.get_state();
  generator.set_state(start);
  auto checkpointed = gradients(model, true);
  auto after_checkpointed = generator.get_state();
  expect_same(plain, checkpointed);
  // The recomputation put the generator back: the next step draws the same masks either way.
  EXPECT_TRUE(torch::equal(after_plain, after_checkpointed));
  auto adapter = lora_parameters(model);
  for (const auto& [name, g] : checkpointed) EXPECT_EQ(g.defined(), adapter.contains(name)) << name;
  // The masks matter: without dropout the gradients are different.
  model->eval();
  auto without_dropout = gradients(model, true);
  const auto name = "model.layers.0.self_attn.q_proj.lora_B.weight";
  EXPECT_GT((without_dropout.at(name) - plain.at(name)).abs().max().item<double>(), 1e-3);
}

TEST(ActivationCheckpointing, OnlyWhileTrainingWithGradients) {
  auto model = random_model(Arch::Llama);
  model->activation_checkpointing = true;
  auto row = some_row();
  model->train();
  EXPECT_TRUE(graph_has(model->hidden_states(row), "CheckpointedLayer"));
  model->eval();
  auto hidden = model->hidden_states(row);
  EXPECT_TRUE(hidden.requires_grad());
  EXPECT_FALSE(graph_has(hidden, "CheckpointedLayer"));
  model->train();
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(model->hidden_states(row).requires_grad());
}

}  // namespace
}  // namespace cotrain
