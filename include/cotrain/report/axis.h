// Chart axes: where the ticks go and how numbers are written on them.
#pragma once
#include <string>
#include <vector>

namespace cotrain {

struct Axis {
  double lo = 0, hi = 1;  // the drawn range (on a log axis: the values, not their logarithms)
  bool log = false;
  std::vector<double> ticks;  // increasing, within [lo, hi]
};

// Ticks at multiples of 1, 2 or 5 x 10^k, about `target` intervals; the range is widened to the
// outermost ticks so lines never touch the frame's edge unmarked. A single value gets a range
// around it.
Axis linear_axis(double lo, double hi, int target = 5);

// Powers of ten from the decade at or below lo to the one at or above hi; when that is fewer than
// three decades, also 2 and 5 x 10^k. lo and hi must be > 0.
Axis log_axis(double lo, double hi);

// Position of v in [0, 1] along the axis (linear or logarithmic).
double axis_fraction(const Axis& axis, double v);

// A tick label: as few digits as tell the ticks apart ("0.25", "2e-5", "12k").
std::string tick_label(double v, const Axis& axis);

// A value for people to read, about four significant digits ("1.234", "3.2e-5", "15,320").
std::string readable_number(double v);

}  // namespace cotrain
