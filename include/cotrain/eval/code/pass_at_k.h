// The unbiased pass@k estimator of Chen et al. (2021): 1 - C(n-c, k) / C(n, k) for n samples of
// which c passed, computed as a product so large n does not overflow.
#pragma once

namespace cotrain {

double pass_at_k(int n, int c, int k);  // requires 1 <= k <= n

}  // namespace cotrain
