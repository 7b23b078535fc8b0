#include "cotrain/train/flat_params.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace cotrain {
namespace {

// Three tensors of 5, 7 and 3 elements over 4 ranks: 15 elements padded to 16. Every range of
// flatten_range is that slice of the tensors laid end to end, an undefined tensor and the padding
// zeros, whatever the allocator hands it (a buffer of 7s was freed just before).
TEST(FlatParams, FlattenRangeIsTheSliceOfTheTensorsEndToEndWithZerosBetween) {
  const auto a = torch::arange(1, 6, torch::kFloat32), b = torch::arange(10, 17, torch::kFloat32).reshape({7, 1}),
             c = torch::arange(20, 23, torch::kFloat32);
  const FlatLayout layout({"a", "b", "c"}, {a, b, c}, /*world_size=*/4);
  ASSERT_EQ(layout.padded_numel(), 16);
  for (bool b_defined : {true, false}) {
    SCOPED_TRACE(b_defined ? "all defined" : "b undefined");
    const std::vector<torch::Tensor> tensors{a, b_defined ? b : torch::Tensor(), c};
    const auto whole = torch::cat({a, b_defined ? b.reshape(-1) : torch::zeros({7}), c, torch::zeros({1})});
    EXPECT_TRUE(flatten_padded(layout, tensors, torch::kFloat32).equal(whole));
    for (std::int64_t begin = 0; begin < 16; ++begin) {
      for (std::int64_t n = 1; begin + n <= 16; ++n) {
        { torch::full({64}, 7.0f); }  // leaves 7s where the next small buffer may come from
        EXPECT_TRUE(flatten_range(layout, tensors, begin, n, torch::kFloat32).equal(whole.narrow(0, begin, n))) << begin << " + " << n;
      }
    }
  }
}

}  // namespace
}  // namespace cotrain
