#include "cotrain/eval/math/rational.h"

#include <gtest/gtest.h>

namespace cotrain {
namespace {

TEST(BigInt, ArithmeticBeyond64Bits) {
  auto a = *BigInt::from_decimal("123456789012345678901234567890");
  auto b = *BigInt::from_decimal("987654321098765432109876543210");
  EXPECT_EQ(mul(a, b)->to_string(), "121932631137021795226185032733622923332237463801111263526900");
  EXPECT_EQ(sub(a, b)->to_string(), "-864197532086419753208641975320");
  auto [q, r] = *divmod(b, a);
  EXPECT_EQ(q.to_string(), "8");
  EXPECT_EQ(r.to_string(), "9000000000900000000090");
  EXPECT_EQ(gcd(BigInt(84), BigInt(-36)).to_string(), "12");
  EXPECT_FALSE(divmod(a, BigInt(0)).has_value());
}

// A one-limb divisor (one native division per limb) and a gcd with a one-limb side (one division,
// then native Euclid): truncating division with the dividend's sign on the remainder, as the
// bit-by-bit path.
TEST(BigInt, OneLimbDivisorsAndGcds) {
  const auto a = *BigInt::from_decimal("123456789012345678901234567890123456789");
  for (const auto& [x, y] : {std::pair{a, BigInt(97)}, std::pair{a.negated(), BigInt(97)}, std::pair{a, BigInt(-4000000000LL)}}) {
    const auto [q, r] = *divmod(x, y);
    EXPECT_EQ(add(*mul(q, y), r)->to_string(), x.to_string());
    EXPECT_LT(r.abs().compare(y.abs()), 0);
    EXPECT_TRUE(r.is_zero() || r.negative() == x.negative());
  }
  EXPECT_EQ(divmod(a, BigInt(97))->first.to_string(), "1272750402189130710322005854537355224");
  EXPECT_EQ(divmod(a, BigInt(97))->second.to_string(), "61");
  EXPECT_EQ(gcd(*mul(a, BigInt(84)), BigInt(-36)).to_string(), "36");  // 9 divides a
  EXPECT_EQ(gcd(BigInt(7), *mul(a, BigInt(7))).to_string(), "7");
  EXPECT_EQ(gcd(a, BigInt(1)).to_string(), "1");
  EXPECT_EQ(gcd(*mul(a, BigInt(2)), BigInt(4)).to_string(), "2");
}

// Knuth's division against its definition over operands of 1 to 70 limbs in every sign, with
// divisors whose top limb is small (the largest normalising shift), full, and a power of two:
// a = q b + r, |r| < |b|, r with a's sign (or zero), q truncated.
TEST(BigInt, LongDivisionIsTruncatingDivision) {
  std::uint64_t state = 88172645463325252ULL;  // xorshift: reproducible operands
  auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  auto number = [&](int limbs, std::uint32_t top) {
    BigInt x(0);
    for (int i = 0; i < limbs; ++i) x = *add(*mul(x, BigInt(std::int64_t(1) << 32)), BigInt(static_cast<std::int64_t>(i == 0 ? top : next() >> 32)));
    return x;
  };
  int checked = 0;
  for (int a_limbs : {1, 2, 3, 5, 17, 70}) {
    for (int b_limbs : {1, 2, 3, 4, 16, 69, 70}) {
      for (std::uint32_t top : {1u, 0xFFFFFFFFu, 0x80000000u, 7u}) {
        const BigInt a = number(a_limbs, static_cast<std::uint32_t>(next() >> 32) | 1u), b = number(b_limbs, top);
        for (const auto& [x, y] : {std::pair{a, b}, std::pair{a.negated(), b}, std::pair{a, b.negated()}, std::pair{a.negated(), b.negated()}}) {
          const auto [q, r] = *divmod(x, y);
          EXPECT_EQ(add(*mul(q, y), r)->to_string(), x.to_string()) << a_limbs << " / " << b_limbs;
          EXPECT_LT(r.abs().compare(y.abs()), 0);
          EXPECT_TRUE(r.is_zero() || r.negative() == x.negative());
          EXPECT_TRUE(q.is_zero() || q.negative() == (x.negative() != y.negative()));
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 6 * 7 * 4 * 4);
  // A quotient limb whose estimate is one too large after the correction: the add-back step
  // (Hacker's Delight's test for it).
  const auto u = *BigInt::from_decimal("170141183420855150474555134919112130560");  // 0x7fffffff800000000000000000000000
  const auto v = *BigInt::from_decimal("39614081257132168796771975169");            // 0x800000000000000000000001
  const auto [uq, ur] = *divmod(u, v);
  EXPECT_EQ(uq.to_string(), "4294967294");
  EXPECT_EQ(ur.to_string(), "39614081257132168792477007874");
  const auto two_to_2000 = *pow(Rational(2), 2000), three_to_1000 = *pow(Rational(3), 1000);
  const auto [q, r] = *divmod(two_to_2000.num(), three_to_1000.num());  // 2^2000 = q 3^1000 + r
  EXPECT_EQ(add(*mul(q, three_to_1000.num()), r)->to_string(), two_to_2000.num().to_string());
}

TEST(BigInt, SizeCapReportsOverflowInsteadOfGrowing) {
  auto big = *pow(Rational(2), 4000);
  EXPECT_FALSE(mul(big, big).has_value());
  EXPECT_FALSE(pow(Rational(3), 100000).has_value());
  EXPECT_FALSE(BigInt::from_decimal(std::string(5000, '9')).has_value());
}

TEST(Rational, ReducesAndParsesDecimals) {
  auto half = *Rational::from_decimal("0.50");
  EXPECT_EQ(half.to_string(), "1/2");
  EXPECT_EQ(Rational::from_decimal(".125")->to_string(), "1/8");
  EXPECT_EQ(Rational::from_decimal("4.5e3")->to_string(), "4500");
  EXPECT_EQ(Rational::from_decimal("1e-3")->to_string(), "1/1000");
  EXPECT_FALSE(Rational::from_decimal("1.2.3").has_value());
  auto third = *div(Rational(1), Rational(3));
  EXPECT_EQ(add(third, third)->to_string(), "2/3");
  EXPECT_NEAR(third.to_double(), 1.0 / 3, 1e-16);
  EXPECT_EQ(pow(third, -2)->to_string(), "9");
  EXPECT_FALSE(div(Rational(1), Rational(0)).has_value());
}

TEST(Rational, ExactRootsOnlyForPerfectPowers) {
  EXPECT_EQ(exact_root(*div(Rational(4), Rational(9)), 2)->to_string(), "2/3");
  EXPECT_EQ(exact_root(Rational(-27), 3)->to_string(), "-3");
  EXPECT_FALSE(exact_root(Rational(2), 2).has_value());
  EXPECT_FALSE(exact_root(Rational(-4), 2).has_value());
  auto big = *pow(Rational(12345), 20);
  EXPECT_EQ(exact_root(big, 20)->to_string(), "12345");
}

}  // namespace
}  // namespace cotrain
