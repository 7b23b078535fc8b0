#include "cotrain/report/axis.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace cotrain {
namespace {

// 1, 2 or 5 x 10^k nearest to raw on a log scale (the thresholds are the geometric midpoints).
double nice_step(double raw) {
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double ratio = raw / magnitude;
  return magnitude * (ratio >= std::sqrt(50.0) ? 10 : ratio >= std::sqrt(10.0) ? 5 : ratio >= std::sqrt(2.0) ? 2 : 1);
}

// "2e-05" -> "2e-5", "1.5e+06" -> "1.5e6".
std::string short_exponent(std::string s) {
  auto e = s.find('e');
  if (e == std::string::npos) return s;
  std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
  bool negative = exponent[0] == '-';
  exponent.erase(0, exponent[0] == '-' || exponent[0] == '+' ? 1 : 0);
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  return mantissa + "e" + (negative ? "-" : "") + exponent;
}

std::string with_thousands(long long v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return (v < 0 ? "-" : "") + out;
}

}  // namespace

Axis linear_axis(double lo, double hi, int target) {
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo <= std::abs(hi) * 1e-12) {  // one value: a range around it
    double pad = lo == 0 ? 1.0 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  double step = nice_step((hi - lo) / std::max(target, 1));
  Axis axis;
  axis.lo = std::floor(lo / step + 1e-9) * step;
  axis.hi = std::ceil(hi / step - 1e-9) * step;
  for (long long i = 0; axis.lo + static_cast<double>(i) * step <= axis.hi + step * 1e-9; ++i) {
    double t = axis.lo + static_cast<double>(i) * step;
    axis.ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return axis;
}

Axis log_axis(double lo, double hi) {
  if (lo > hi) std::swap(lo, hi);
  int first = static_cast<int>(std::floor(std::log10(lo) + 1e-12));
  int last = static_cast<int>(std::ceil(std::log10(hi) - 1e-12));
  if (last == first) ++last;
  Axis axis;
  axis.log = true;
  axis.lo = std::pow(10.0, first);
  axis.hi = std::pow(10.0, last);
  bool minor = last - first < 3;
  for (int k = first; k <= last; ++k) {
    double decade = std::pow(10.0, k);
    axis.ticks.push_back(decade);
    if (minor && k < last) {
      axis.ticks.push_back(2 * decade);
      axis.ticks.push_back(5 * decade);
    }
  }
  return axis;
}

double axis_fraction(const Axis& axis, double v) {
  if (axis.log) return (std::log10(v) - std::log10(axis.lo)) / (std::log10(axis.hi) - std::log10(axis.lo));
  return (v - axis.lo) / (axis.hi - axis.lo);
}

std::string tick_label(double v, const Axis& axis) {
  if (v == 0) return "0";
  if (axis.log) {
    double a = std::abs(v);
    return a >= 1e-3 && a < 1e5 ? fmt::format("{:g}", v) : short_exponent(fmt::format("{:.0e}", v));
  }
  double step = axis.ticks.size() > 1 ? axis.ticks[1] - axis.ticks[0] : std::abs(v);
  double largest = std::max(std::abs(axis.lo), std::abs(axis.hi));
  if (largest < 1e-3 || largest >= 1e7) {  // scientific: enough mantissa digits to tell steps apart, no trailing zeros
    int digits = std::max(0, static_cast<int>(std::floor(std::log10(std::abs(v)))) -
                                 static_cast<int>(std::floor(std::log10(step) + 1e-9)));
    std::string s = fmt::format("{:.{}e}", v, digits);
    std::size_t e = s.find('e'), keep = s.find_last_not_of('0', e - 1);
    if (s[keep] == '.') --keep;
    return short_exponent(s.substr(0, keep + 1) + s.substr(e));
  }
  if (largest >= 1e4) {  // thousands: 12k, 12.5k
    int decimals = std::max(0, 3 - static_cast<int>(std::floor(std::log10(step) + 1e-9)));
    return fmt::format("{:.{}f}k", v / 1000, decimals);
  }
  int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

std::string readable_number(double v) {
  double a = std::abs(v);
  if (a >= 1e4 && a < 1e15) return with_thousands(std::llround(v));
  return short_exponent(fmt::format("{:.4g}", v));
}

}  // namespace cotrain
