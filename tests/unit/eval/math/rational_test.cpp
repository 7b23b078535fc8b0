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
