#include "cotrain/report/axis.h"

#include <gtest/gtest.h>

#include <cmath>

namespace cotrain {
namespace {

void expect_ticks(const Axis& a, const std::vector<double>& want) {
  ASSERT_EQ(a.ticks.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(a.ticks[i], want[i], 1e-12 * std::abs(want[i]) + 1e-15) << i;
}

TEST(LinearAxis, NiceStepsCoverTheRange) {
  expect_ticks(linear_axis(0, 1, 5), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
  expect_ticks(linear_axis(0.37, 2.91, 5), {0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0});
  expect_ticks(linear_axis(0, 300, 6), {0, 50, 100, 150, 200, 250, 300});
  Axis a = linear_axis(4812, 5391, 5);
  EXPECT_LE(a.lo, 4812);
  EXPECT_GE(a.hi, 5391);
  EXPECT_EQ(a.ticks.front(), a.lo);
  EXPECT_EQ(a.ticks.back(), a.hi);
  for (std::size_t i = 1; i < a.ticks.size(); ++i) EXPECT_NEAR(a.ticks[i] - a.ticks[i - 1], 100, 1e-9);
}

TEST(LinearAxis, SingleValueGetsARange) {
  Axis a = linear_axis(2.5, 2.5);
  EXPECT_LT(a.lo, 2.5);
  EXPECT_GT(a.hi, 2.5);
  Axis zero = linear_axis(0, 0);
  EXPECT_LT(zero.lo, 0);
  EXPECT_GT(zero.hi, 0);
}

TEST(LinearAxis, TinyValuesLikeLearningRates) {
  Axis a = linear_axis(0, 1e-5, 5);
  expect_ticks(a, {0, 2e-6, 4e-6, 6e-6, 8e-6, 1e-5});
  EXPECT_EQ(tick_label(0, a), "0");
  EXPECT_EQ(tick_label(2e-6, a), "2e-6");
  EXPECT_EQ(tick_label(1e-5, a), "1e-5");
  EXPECT_EQ(tick_label(1.2e-5, linear_axis(1e-5, 1.6e-5, 3)), "1.2e-5");
}

TEST(LinearAxis, Labels) {
  Axis a = linear_axis(0, 1, 5);
  EXPECT_EQ(tick_label(0.4, a), "0.4");
  Axis b = linear_axis(0, 300, 6);
  EXPECT_EQ(tick_label(150, b), "150");
  Axis c = linear_axis(0, 24000, 6);
  EXPECT_EQ(tick_label(c.ticks[1], c), "5k");
  Axis d = linear_axis(11000, 13000, 4);
  EXPECT_EQ(tick_label(11500, d), "11.5k");
}

TEST(LogAxis, DecadesAndMinorTicks) {
  Axis a = log_axis(0.03, 12);  // 3 decades: powers of ten only
  EXPECT_TRUE(a.log);
  expect_ticks(a, {0.01, 0.1, 1, 10, 100});
  Axis b = log_axis(0.3, 8);  // 2 decades: also 2 and 5
  expect_ticks(b, {0.1, 0.2, 0.5, 1, 2, 5, 10});
  EXPECT_NEAR(axis_fraction(b, 1), 0.5, 1e-12);
  EXPECT_EQ(tick_label(0.1, b), "0.1");
  EXPECT_EQ(tick_label(1e-5, log_axis(1e-5, 1)), "1e-5");
}

TEST(ReadableNumber, AboutFourDigits) {
  EXPECT_EQ(readable_number(1.23456), "1.235");
  EXPECT_EQ(readable_number(3.2e-5), "3.2e-5");
  EXPECT_EQ(readable_number(15320.4), "15,320");
  EXPECT_EQ(readable_number(-1234567), "-1,234,567");
  EXPECT_EQ(readable_number(0), "0");
  EXPECT_EQ(readable_number(200), "200");
}

}  // namespace
}  // namespace cotrain
