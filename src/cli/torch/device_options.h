// --dtype and --device, shared by the commands that run a model.
#pragma once
#include <CLI/CLI.hpp>

#include <string>

#include "cotrain/model/weights.h"

namespace cotrain::cli {

struct DeviceOptions {
  std::string dtype = "auto", device = "auto";
  int threads = 0;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--dtype", dtype, "float32, bfloat16, float16 or auto (bfloat16 on CUDA, float32 on CPU)")->capture_default_str();
    cmd->add_option("--device", device, "cpu, cuda, cuda:N or auto")->capture_default_str();
    cmd->add_option("--threads", threads, "CPU threads for tensor math (0: torch's default)")->check(CLI::NonNegativeNumber);
  }
  torch::Device resolved_device() const { return parse_device(device); }
  torch::ScalarType resolved_dtype() const { return parse_scalar_type(dtype, resolved_device()); }
  void apply_threads() const {
    if (threads > 0) torch::set_num_threads(threads);
  }
};

}  // namespace cotrain::cli
