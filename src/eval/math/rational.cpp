#include "cotrain/eval/math/rational.h"

#include <algorithm>
#include <cmath>

namespace cotrain {

using Limbs = std::vector<std::uint32_t>;

BigInt::BigInt(std::int64_t v) {
  neg_ = v < 0;
  std::uint64_t m = neg_ ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  while (m) {
    mag_.push_back(static_cast<std::uint32_t>(m));
    m >>= 32;
  }
}

BigInt BigInt::from_magnitude(std::uint64_t m, bool negative) {
  BigInt r;
  while (m) {
    r.mag_.push_back(static_cast<std::uint32_t>(m));
    m >>= 32;
  }
  r.neg_ = negative && !r.mag_.empty();
  return r;
}

void BigInt::trim() {
  while (!mag_.empty() && mag_.back() == 0) mag_.pop_back();
  if (mag_.empty()) neg_ = false;
}

std::size_t BigInt::bits() const {
  if (mag_.empty()) return 0;
  std::uint32_t top = mag_.back();
  std::size_t b = 0;
  while (top) { ++b; top >>= 1; }
  return (mag_.size() - 1) * 32 + b;
}

int BigInt::compare_mag(const Limbs& a, const Limbs& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  for (std::size_t i = a.size(); i-- > 0;)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

int BigInt::compare(const BigInt& o) const {
  if (neg_ != o.neg_) return neg_ ? -1 : 1;
  int c = compare_mag(mag_, o.mag_);
  return neg_ ? -c : c;
}

Limbs BigInt::add_mag(const Limbs& a, const Limbs& b) {
  Limbs r(std::max(a.size(), b.size()) + 1, 0);
  std::uint64_t carry = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    std::uint64_t s = carry + (i < a.size() ? a[i] : 0) + (i < b.size() ? b[i] : 0);
    r[i] = static_cast<std::uint32_t>(s);
    carry = s >> 32;
  }
  return r;
}

Limbs BigInt::sub_mag(const Limbs& a, const Limbs& b) {  // requires |a| >= |b|
  Limbs r(a.size(), 0);
  std::int64_t borrow = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::int64_t d = static_cast<std::int64_t>(a[i]) - borrow - (i < b.size() ? b[i] : 0);
    borrow = d < 0;
    r[i] = static_cast<std::uint32_t>(d + (borrow ? (1LL << 32) : 0));
  }
  return r;
}

static std::optional<BigInt> capped(BigInt r) {
  if (r.bits() > BigInt::kMaxBits) return std::nullopt;
  return r;
}

std::optional<BigInt> add(const BigInt& a, const BigInt& b) {
  BigInt r;
  if (a.neg_ == b.neg_) {
    r.mag_ = BigInt::add_mag(a.mag_, b.mag_);
    r.neg_ = a.neg_;
  } else if (BigInt::compare_mag(a.mag_, b.mag_) >= 0) {
    r.mag_ = BigInt::sub_mag(a.mag_, b.mag_);
    r.neg_ = a.neg_;
  } else {
    r.mag_ = BigInt::sub_mag(b.mag_, a.mag_);
    r.neg_ = b.neg_;
  }
  r.trim();
  return capped(r);
}

std::optional<BigInt> sub(const BigInt& a, const BigInt& b) { return add(a, b.negated()); }

std::optional<BigInt> mul(const BigInt& a, const BigInt& b) {
  if (a.bits() + b.bits() > BigInt::kMaxBits + 1) return std::nullopt;
  BigInt r;
  r.mag_.assign(a.mag_.size() + b.mag_.size(), 0);
  for (std::size_t i = 0; i < a.mag_.size(); ++i) {
    std::uint64_t carry = 0;
    for (std::size_t j = 0; j < b.mag_.size(); ++j) {
      std::uint64_t cur = r.mag_[i + j] + static_cast<std::uint64_t>(a.mag_[i]) * b.mag_[j] + carry;
      r.mag_[i + j] = static_cast<std::uint32_t>(cur);
      carry = cur >> 32;
    }
    r.mag_[i + b.mag_.size()] += static_cast<std::uint32_t>(carry);
  }
  r.neg_ = a.neg_ != b.neg_;
  r.trim();
  return capped(r);
}

// Shift-and-subtract long division: simple, and fast enough for numbers under the size cap.
std::optional<std::pair<BigInt, BigInt>> divmod(const BigInt& a, const BigInt& b) {
  if (b.is_zero()) return std::nullopt;
  if (a.mag_.size() <= 2 && b.mag_.size() <= 2) {  // the common case: native 64-bit division
    auto mag = [](const BigInt& x) { return x.mag_.empty() ? 0 : x.mag_[0] | (x.mag_.size() > 1 ? std::uint64_t(x.mag_[1]) << 32 : 0); };
    std::uint64_t x = mag(a), y = mag(b);
    BigInt q = BigInt::from_magnitude(x / y, a.neg_ != b.neg_), r = BigInt::from_magnitude(x % y, a.neg_);
    return std::make_pair(q, r);
  }
  BigInt q, r;
  std::size_t n = a.bits();
  q.mag_.assign(a.mag_.size(), 0);
  for (std::size_t i = n; i-- > 0;) {
    // r = r*2 + bit i of a
    std::uint32_t carry = (a.mag_[i / 32] >> (i % 32)) & 1u;
    for (auto& limb : r.mag_) {
      std::uint32_t next = limb >> 31;
      limb = (limb << 1) | carry;
      carry = next;
    }
    if (carry) r.mag_.push_back(carry);
    if (BigInt::compare_mag(r.mag_, b.mag_) >= 0) {
      r.mag_ = BigInt::sub_mag(r.mag_, b.mag_);
      r.trim();
      q.mag_[i / 32] |= 1u << (i % 32);
    }
  }
  q.neg_ = a.neg_ != b.neg_;
  r.neg_ = a.neg_;
  q.trim();
  r.trim();
  return std::make_pair(q, r);
}

std::size_t BigInt::trailing_zeros() const {
  std::size_t limb = 0;
  while (mag_[limb] == 0) ++limb;
  return limb * 32 + static_cast<std::size_t>(__builtin_ctz(mag_[limb]));
}

void BigInt::shift_right(std::size_t bits) {
  std::size_t limbs = bits / 32, rest = bits % 32;
  mag_.erase(mag_.begin(), mag_.begin() + static_cast<std::ptrdiff_t>(std::min(limbs, mag_.size())));
  if (rest) {
    for (std::size_t i = 0; i < mag_.size(); ++i) {
      mag_[i] = (mag_[i] >> rest) | (i + 1 < mag_.size() ? mag_[i + 1] << (32 - rest) : 0);
    }
  }
  trim();
}

void BigInt::shift_left(std::size_t bits) {
  std::size_t limbs = bits / 32, rest = bits % 32;
  if (rest) {
    std::uint32_t carry = 0;
    for (auto& limb : mag_) {
      std::uint32_t next = limb >> (32 - rest);
      limb = (limb << rest) | carry;
      carry = next;
    }
    if (carry) mag_.push_back(carry);
  }
  mag_.insert(mag_.begin(), limbs, 0);
  trim();
}

// Stein's binary algorithm: shifts and subtractions, O(bits^2) limb operations. Euclid's
// algorithm over the bit-by-bit divmod above was O(bits^3): fractions near the size cap took
// seconds (found by fuzzing the grader).
BigInt gcd(BigInt a, BigInt b) {
  a = a.abs();
  b = b.abs();
  if (a.is_zero()) return b;
  if (b.is_zero()) return a;
  std::size_t za = a.trailing_zeros(), zb = b.trailing_zeros();
  a.shift_right(za);
  b.shift_right(zb);
  for (;;) {  // both odd
    int c = BigInt::compare_mag(a.mag_, b.mag_);
    if (c == 0) break;
    if (c < 0) std::swap(a, b);
    a.mag_ = BigInt::sub_mag(a.mag_, b.mag_);  // even and non-zero
    a.trim();
    a.shift_right(a.trailing_zeros());
  }
  a.shift_left(std::min(za, zb));
  return a;
}

std::optional<BigInt> BigInt::from_decimal(std::string_view digits) {
  if (digits.empty() || digits.size() > kMaxBits / 3) return std::nullopt;
  BigInt r;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    auto t = mul(r, BigInt(10));
    if (!t) return std::nullopt;
    auto s = add(*t, BigInt(c - '0'));
    if (!s) return std::nullopt;
    r = *s;
  }
  return r;
}

std::string BigInt::to_string() const {
  if (is_zero()) return "0";
  std::string out;
  BigInt x = abs();
  const BigInt billion(1000000000);
  while (!x.is_zero()) {
    auto [q, r] = *divmod(x, billion);
    std::uint32_t chunk = r.mag_.empty() ? 0 : r.mag_[0];
    for (int k = 0; k < 9; ++k) {
      out.push_back(static_cast<char>('0' + chunk % 10));
      chunk /= 10;
      if (q.is_zero() && chunk == 0) break;
    }
    x = q;
  }
  while (out.size() > 1 && out.back() == '0') out.pop_back();
  if (neg_) out.push_back('-');
  std::reverse(out.begin(), out.end());
  return out;
}

double BigInt::to_double() const {
  double v = 0;
  for (std::size_t i = mag_.size(); i-- > 0;) v = v * 4294967296.0 + mag_[i];
  return neg_ ? -v : v;
}

std::optional<Rational> Rational::make(const BigInt& num, const BigInt& den) {
  if (den.is_zero()) return std::nullopt;
  BigInt g = gcd(num, den);
  Rational r;
  r.num_ = divmod(num, g)->first;
  r.den_ = divmod(den, g)->first;
  if (r.den_.negative()) {
    r.num_ = r.num_.negated();
    r.den_ = r.den_.negated();
  }
  return r;
}

std::optional<Rational> Rational::from_decimal(std::string_view text) {
  std::string digits;
  std::int64_t exp10 = 0;
  bool seen_dot = false, any = false;
  std::size_t i = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
      any = true;
      if (seen_dot) --exp10;
    } else if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      break;
    }
  }
  if (!any) return std::nullopt;
  if (i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') return std::nullopt;
    ++i;
    bool neg = i < text.size() && (text[i] == '-' || text[i] == '+') && text[i++] == '-';
    std::int64_t e = 0;
    if (i >= text.size()) return std::nullopt;
    for (; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9' || e > 100000) return std::nullopt;
      e = e * 10 + (text[i] - '0');
    }
    exp10 += neg ? -e : e;
  }
  auto mant = BigInt::from_decimal(digits);
  if (!mant || exp10 > 1000 || exp10 < -1000) return std::nullopt;
  auto scale = pow(Rational(10), exp10);
  if (!scale) return std::nullopt;
  auto m = make(*mant, BigInt(1));
  return mul(*m, *scale);
}

double Rational::to_double() const {
  // Scale both to at most ~1000 bits so that huge values do not become inf/inf.
  std::size_t nb = num_.bits(), db = den_.bits();
  if (nb < 1000 && db < 1000) return num_.to_double() / den_.to_double();
  return std::exp2(static_cast<double>(nb) - static_cast<double>(db)) * (num_.negative() ? -1 : 1);
}

std::string Rational::to_string() const {
  return is_integer() ? num_.to_string() : num_.to_string() + "/" + den_.to_string();
}

std::optional<Rational> add(const Rational& a, const Rational& b) {
  auto x = mul(a.num_, b.den_), y = mul(b.num_, a.den_), d = mul(a.den_, b.den_);
  if (!x || !y || !d) return std::nullopt;
  auto n = add(*x, *y);
  if (!n) return std::nullopt;
  return Rational::make(*n, *d);
}

std::optional<Rational> sub(const Rational& a, const Rational& b) { return add(a, b.negated()); }

std::optional<Rational> mul(const Rational& a, const Rational& b) {
  auto n = mul(a.num_, b.num_), d = mul(a.den_, b.den_);
  if (!n || !d) return std::nullopt;
  return Rational::make(*n, *d);
}

std::optional<Rational> div(const Rational& a, const Rational& b) {
  if (b.is_zero()) return std::nullopt;
  auto n = mul(a.num_, b.den_), d = mul(a.den_, b.num_);
  if (!n || !d) return std::nullopt;
  return Rational::make(*n, *d);
}

std::optional<Rational> pow(const Rational& a, std::int64_t e) {
  if (e < -4096 || e > 4096) return std::nullopt;
  if (e < 0 && a.is_zero()) return std::nullopt;
  // Powers of a fraction in lowest terms are in lowest terms: numerator and denominator are
  // raised separately, with no gcd.
  auto power = [](BigInt x, std::int64_t k) -> std::optional<BigInt> {
    BigInt result(1);
    while (k > 0) {
      if (k & 1) {
        auto r = mul(result, x);
        if (!r) return std::nullopt;
        result = *r;
      }
      k >>= 1;
      if (k) {
        auto s = mul(x, x);
        if (!s) return std::nullopt;
        x = *s;
      }
    }
    return result;
  };
  std::int64_t k = e < 0 ? -e : e;
  auto n = power(a.num_, k), d = power(a.den_, k);
  if (!n || !d) return std::nullopt;
  Rational r;
  r.num_ = e < 0 ? *d : *n;
  r.den_ = e < 0 ? *n : *d;
  if (r.den_.negative()) {
    r.num_ = r.num_.negated();
    r.den_ = r.den_.negated();
  }
  return r;
}

// Integer k-th root of a non-negative n by binary search, if exact.
static std::optional<BigInt> exact_int_root(const BigInt& n, int k) {
  if (n.is_zero()) return BigInt(0);
  if (n.bits() > 512) return std::nullopt;
  BigInt lo(0), hi(1);
  for (std::size_t b = 0; b <= n.bits() / static_cast<std::size_t>(k) + 1; ++b) hi = *mul(hi, BigInt(2));
  while (sub(hi, lo)->compare(BigInt(1)) > 0) {
    BigInt mid = divmod(*add(lo, hi), BigInt(2))->first;
    auto p = pow(*Rational::make(mid, BigInt(1)), k);
    if (!p) return std::nullopt;
    if (p->num().compare(n) <= 0) lo = mid; else hi = mid;
  }
  auto p = pow(*Rational::make(lo, BigInt(1)), k);
  if (p && p->num() == n) return lo;
  return std::nullopt;
}

std::optional<Rational> exact_root(const Rational& a, int k) {
  if (k < 2 || k > 64) return std::nullopt;
  bool neg = a.num_.negative();
  if (neg && k % 2 == 0) return std::nullopt;
  auto n = exact_int_root(a.num_.abs(), k), d = exact_int_root(a.den_, k);
  if (!n || !d) return std::nullopt;
  return Rational::make(neg ? n->negated() : *n, *d);
}

}  // namespace cotrain
