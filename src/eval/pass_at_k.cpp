#include "cotrain/eval/pass_at_k.h"

#include <algorithm>

namespace cotrain {

double pass_at_k(int n, int c, int k) {
  if (n - c < k) return 1.0;
  double all_fail = 1.0;  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
  for (int i = n - c + 1; i <= n; ++i) all_fail *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - all_fail;
}

std::vector<std::pair<int, double>> mean_pass_at_k(const std::vector<std::pair<int, int>>& n_and_c, std::size_t problems) {
  std::vector<std::pair<int, double>> out;
  if (n_and_c.empty() || problems == 0) return out;
  int min_n = n_and_c.front().first;
  for (auto [n, c] : n_and_c) min_n = std::min(min_n, n);
  for (int k : {1, 2, 4, 5, 8, 10, 16, 20, 32, 50, 64, 100}) {
    if (k > min_n) break;
    double sum = 0;
    for (auto [n, c] : n_and_c) sum += pass_at_k(n, c, k);
    out.emplace_back(k, sum / static_cast<double>(problems));
  }
  return out;
}

}  // namespace cotrain
