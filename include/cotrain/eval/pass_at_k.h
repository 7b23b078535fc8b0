// The unbiased pass@k estimator of Chen et al. (2021): 1 - C(n-c, k) / C(n, k) for n samples of
// which c passed, computed as a product so large n does not overflow. Shared by every benchmark.
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

namespace cotrain {

double pass_at_k(int n, int c, int k);  // requires 1 <= k <= n

// Mean pass@k over `problems` problems, given (n, c) for those with samples (the others count as
// 0), for k = 1, 2, 4, 5, 8, 10, 16, 20, 32, 50, 64, 100 up to the smallest n. Returns (k, value).
std::vector<std::pair<int, double>> mean_pass_at_k(const std::vector<std::pair<int, int>>& n_and_c, std::size_t problems);

}  // namespace cotrain
