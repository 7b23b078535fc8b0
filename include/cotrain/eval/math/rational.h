// Exact arithmetic for answer checking: a small arbitrary-precision integer and a reduced
// fraction over it. Sizes are capped (kMaxBits) so that adversarial answers such as 9^9^9 cannot
// exhaust memory or time: an operation whose result would exceed the cap reports overflow and the
// caller falls back to floating point.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cotrain {

class BigInt {
 public:
  static constexpr std::size_t kMaxBits = 4096;

  BigInt() = default;
  BigInt(std::int64_t v);  // NOLINT(google-explicit-constructor): integers convert naturally
  static std::optional<BigInt> from_decimal(std::string_view digits);  // [0-9]+ only

  bool is_zero() const { return mag_.empty(); }
  bool negative() const { return neg_; }
  int compare(const BigInt& other) const;
  std::string to_string() const;
  double to_double() const;
  std::size_t bits() const;

  // Each returns nullopt if the result would exceed kMaxBits (or on division by zero).
  friend std::optional<BigInt> add(const BigInt& a, const BigInt& b);
  friend std::optional<BigInt> sub(const BigInt& a, const BigInt& b);
  friend std::optional<BigInt> mul(const BigInt& a, const BigInt& b);
  // Truncating division: a = q*b + r, |r| < |b|, r has a's sign.
  friend std::optional<std::pair<BigInt, BigInt>> divmod(const BigInt& a, const BigInt& b);
  friend BigInt gcd(const BigInt& a, const BigInt& b);
  BigInt abs() const { BigInt r = *this; r.neg_ = false; return r; }
  BigInt negated() const { BigInt r = *this; if (!r.is_zero()) r.neg_ = !r.neg_; return r; }

  bool operator==(const BigInt& o) const { return compare(o) == 0; }

 private:
  static int compare_mag(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b);
  static std::vector<std::uint32_t> add_mag(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b);
  static std::vector<std::uint32_t> sub_mag(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b);
  static BigInt from_magnitude(std::uint64_t m, bool negative);
  void trim();
  std::size_t trailing_zeros() const;  // of a non-zero magnitude
  void shift_right(std::size_t bits);
  void shift_left(std::size_t bits);

  std::vector<std::uint32_t> mag_;  // little-endian base 2^32 magnitude, no leading zero limbs
  bool neg_ = false;
};

// num/den in lowest terms, den > 0.
class Rational {
 public:
  Rational() : num_(0), den_(1) {}
  Rational(std::int64_t v) : num_(v), den_(1) {}  // NOLINT(google-explicit-constructor)
  static std::optional<Rational> make(const BigInt& num, const BigInt& den);
  // "12", "3.25", ".5", "1e-3" style decimal literals (no sign).
  static std::optional<Rational> from_decimal(std::string_view text);

  const BigInt& num() const { return num_; }
  const BigInt& den() const { return den_; }
  bool is_zero() const { return num_.is_zero(); }
  bool is_integer() const { return den_ == BigInt(1); }
  double to_double() const;
  std::string to_string() const;
  bool operator==(const Rational& o) const { return num_ == o.num_ && den_ == o.den_; }

  friend std::optional<Rational> add(const Rational& a, const Rational& b);
  friend std::optional<Rational> sub(const Rational& a, const Rational& b);
  friend std::optional<Rational> mul(const Rational& a, const Rational& b);
  friend std::optional<Rational> div(const Rational& a, const Rational& b);
  // a^e for an integer exponent with |e| <= 4096 and a result within the size cap.
  friend std::optional<Rational> pow(const Rational& a, std::int64_t e);
  // The exact k-th root when a is a perfect k-th power (k in 2..64), else nullopt.
  friend std::optional<Rational> exact_root(const Rational& a, int k);
  Rational negated() const { Rational r = *this; r.num_ = num_.negated(); return r; }

 private:
  BigInt num_, den_;
};

}  // namespace cotrain
