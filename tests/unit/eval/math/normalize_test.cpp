// One test per normalisation rule (normalize.h), plus the composed normalize_answer.
#include "cotrain/eval/math/normalize.h"

#include <gtest/gtest.h>

namespace cotrain {
namespace {

TEST(Normalize, StripOuterPunctuation) {
  EXPECT_EQ(strip_outer_punctuation(" : 5. "), "5");
  EXPECT_EQ(strip_outer_punctuation("185\\"), "185");
  EXPECT_EQ(strip_outer_punctuation("x\\\\"), "x\\\\");
}
TEST(Normalize, UnifyFractions) {
  EXPECT_EQ(unify_fractions("\\dfrac{1}{2}+\\tfrac{3}{4}+\\cfrac{5}{6}"), "\\frac{1}{2}+\\frac{3}{4}+\\frac{5}{6}");
  EXPECT_EQ(unify_fractions("\\dfracx"), "\\dfracx");  // another command name, untouched
}
TEST(Normalize, RemoveLeftRight) { EXPECT_EQ(remove_left_right("\\left( 3, \\frac{\\pi}{2} \\right)"), "( 3, \\frac{\\pi}{2} )"); }
TEST(Normalize, JoinLatexThousands) {
  EXPECT_EQ(join_latex_thousands("11,\\! 111,\\! 100"), "11111100");
  EXPECT_EQ(join_latex_thousands("14{,}916"), "14916");
  EXPECT_EQ(join_latex_thousands("(1,\\!x)"), "(1,\\!x)");
}
TEST(Normalize, RemoveSpacingKeepsRowBreaks) {
  EXPECT_EQ(remove_spacing("a\\!b\\,c\\;d\\quad e"), "a b c d  e");
  EXPECT_EQ(remove_spacing("1 \\\\ 2"), "1 \\\\ 2");
}
TEST(Normalize, RemoveDollarsAndDelimiters) {
  EXPECT_EQ(remove_dollars("\\$12.01"), "12.01");
  EXPECT_EQ(remove_dollars("\\( 9 \\)"), "  9  ");
}
TEST(Normalize, SingleBackslashes) {
  EXPECT_EQ(single_backslashes("\\\\frac{1}{2}"), "\\frac{1}{2}");
  EXPECT_EQ(single_backslashes("\\begin{pmatrix}a\\\\b\\end{pmatrix}"), "\\begin{pmatrix}a\\\\b\\end{pmatrix}");
}
TEST(Normalize, RemoveDegrees) {
  EXPECT_EQ(remove_degrees("45^{\\circ}"), "45");
  EXPECT_EQ(remove_degrees("90^\\circ"), "90");
}
TEST(Normalize, Percent) {
  EXPECT_EQ(remove_percent("10\\%"), "10");
  EXPECT_EQ(remove_percent("28 percent"), "28");
  EXPECT_TRUE(has_percent("75%"));
  EXPECT_FALSE(has_percent("0.75"));
}
TEST(Normalize, TextUnits) {
  EXPECT_EQ(remove_text_units("10\\text{ units}"), "10");
  EXPECT_EQ(remove_text_units("865 \\mbox{ inches}^2"), "865");
  EXPECT_EQ(remove_text_units("\\text{Evelyn}"), "\\text{Evelyn}");  // the whole answer is text
}
TEST(Normalize, UnwrapText) { EXPECT_EQ(unwrap_text("\\text{(C)} \\mathrm{E} \\textbf{A}"), "(C) E A"); }
TEST(Normalize, NumberWords) {
  EXPECT_EQ(number_words("five"), "5");
  EXPECT_EQ(number_words("Twelve"), "12");
  EXPECT_EQ(number_words("fiver"), "fiver");
}
TEST(Normalize, Units) {
  EXPECT_EQ(remove_units("1cm"), "1");
  EXPECT_EQ(remove_units("\\frac{1}{2} cm"), "\\frac{1}{2}");
  EXPECT_EQ(remove_units("125 miles"), "125");
  EXPECT_EQ(remove_units("1 < ms < 2"), "1 < ms < 2");
  EXPECT_EQ(remove_units("2x"), "2x");
}
TEST(Normalize, FracAndSqrtBraces) {
  EXPECT_EQ(add_frac_braces("\\frac12"), "\\frac{1}{2}");
  EXPECT_EQ(add_frac_braces("\\frac1{72}"), "\\frac{1}{72}");
  EXPECT_EQ(add_frac_braces("\\frac\\pi2"), "\\frac{\\pi}{2}");
  EXPECT_EQ(add_sqrt_braces("10\\sqrt3"), "10\\sqrt{3}");
  EXPECT_EQ(add_sqrt_braces("\\sqrt[3]{x}"), "\\sqrt[3]{x}");
}
TEST(Normalize, SlashToFrac) {
  EXPECT_EQ(slash_to_frac("4/2"), "\\frac{4}{2}");
  EXPECT_EQ(slash_to_frac("-10/9"), "-\\frac{10}{9}");
  EXPECT_EQ(slash_to_frac("x/2"), "x/2");
}
TEST(Normalize, LeadingDotAndTrailingZeros) {
  EXPECT_EQ(fix_leading_dot(".75"), "0.75");
  EXPECT_EQ(fix_leading_dot("(.5, -.25)"), "(0.5, -0.25)");
  EXPECT_EQ(strip_trailing_zeros("12.000"), "12");
  EXPECT_EQ(strip_trailing_zeros("2.50"), "2.5");
  EXPECT_EQ(strip_trailing_zeros("100"), "100");
}
TEST(Normalize, ThousandsSeparatorsOnlyInGroupsOfThree) {
  EXPECT_EQ(remove_thousands_separators("7,425,000"), "7425000");
  EXPECT_EQ(remove_thousands_separators("1 000"), "1000");
  EXPECT_EQ(remove_thousands_separators("1,000.99"), "1000.99");
  EXPECT_EQ(remove_thousands_separators("1,2"), "1,2");        // a list
  EXPECT_EQ(remove_thousands_separators("32, 349"), "32, 349");  // a list
  EXPECT_EQ(remove_thousands_separators("1,0000"), "1,0000");
}
TEST(Normalize, DropSimpleLhs) {
  EXPECT_EQ(drop_simple_lhs("x = 3"), "3");
  EXPECT_EQ(drop_simple_lhs("a_{3}=\\frac{1}{2}"), "\\frac{1}{2}");
  EXPECT_EQ(drop_simple_lhs("x = y + 2"), "x = y + 2");
  EXPECT_EQ(drop_simple_lhs("2x = 4"), "2x = 4");
  EXPECT_EQ(drop_simple_lhs("x = \\pi"), "\\pi");
}
TEST(Normalize, SortIntegerList) {
  EXPECT_EQ(sort_integer_list("3,2,10,-1"), "-1,2,3,10");
  EXPECT_EQ(sort_integer_list("3,x"), "3,x");
}
TEST(Normalize, CollapseSpacesKeepsCommandsApart) {
  EXPECT_EQ(collapse_spaces("\\pi r + 1"), "\\pi r+1");
  EXPECT_EQ(collapse_spaces("6 and 8"), "6and8");
  EXPECT_EQ(collapse_spaces("p = 2 and p = 3"), "p=2and p=3");  // words stay apart
}
TEST(Normalize, InfinityAndMatrices) {
  EXPECT_EQ(map_infinity("inf"), "\\infty");
  EXPECT_EQ(map_infinity("∅"), "\\emptyset");
  EXPECT_EQ(canonical_matrix("\\begin{bmatrix}1\\end{bmatrix}"), "\\begin{pmatrix}1\\end{pmatrix}");
  EXPECT_EQ(canonical_matrix("\\begin{array}{cc}1&2\\end{array}"), "\\begin{pmatrix}1&2\\end{pmatrix}");
}
TEST(Normalize, ComposedAnswer) {
  EXPECT_EQ(normalize_answer("\\$1,000.00"), "1000");
  EXPECT_EQ(normalize_answer("x = \\dfrac{1}{2}."), "\\frac{1}{2}");
  EXPECT_EQ(normalize_answer("\\left[ 0, 1 \\right)"), "[0,1)");
}

}  // namespace
}  // namespace cotrain
