// The libtorch headers that torch targets precompile once (see src/CMakeLists.txt).
#pragma once
#include <ATen/ATen.h>
#include <torch/nn.h>
