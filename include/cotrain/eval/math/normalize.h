// Answer normalisation: the rules the reference graders apply (Qwen2.5-Math strip_string,
// SkyThought strip_answer_string, the MATH dataset's _strip_string, Math-Verify normalize_latex),
// one function per rule so each can be tested on its own. normalize_answer applies them in order.
#pragma once
#include <string>
#include <string_view>

namespace cotrain {

std::string strip_outer_punctuation(std::string_view s);  // whitespace, leading ':', trailing '.'
std::string unify_fractions(std::string_view s);          // \dfrac \tfrac \cfrac -> \frac
std::string remove_left_right(std::string_view s);        // \left( -> (, \right] -> ], \bigl etc.
std::string join_latex_thousands(std::string_view s);     // 11,\!111 and 1{,}000 -> 11111, 1000
std::string remove_spacing(std::string_view s);           // \! \, \; \: \quad \qquad \displaystyle "\ "
std::string remove_dollars(std::string_view s);           // $ and \$, \( \) \[ \] delimiters
std::string single_backslashes(std::string_view s);       // doubly escaped \\frac -> \frac (no matrices)
std::string remove_degrees(std::string_view s);           // ^\circ ^{\circ} \degree °
std::string remove_percent(std::string_view s);           // \% % "percent" "pct"
std::string remove_text_units(std::string_view s);        // 10\text{ cm}^2 -> 10 (text after a value)
std::string unwrap_text(std::string_view s);              // \text{X} \textbf{X} \mathrm{X} \mbox{X} -> X
std::string number_words(std::string_view s);             // "five" -> 5 (the whole answer)
std::string remove_units(std::string_view s);             // 1cm, \frac{1}{2} cm, 3s -> the value
std::string add_frac_braces(std::string_view s);          // \frac12 -> \frac{1}{2}, \frac1{72}
std::string add_sqrt_braces(std::string_view s);          // \sqrt3 -> \sqrt{3}
std::string slash_to_frac(std::string_view s);            // 4/2 -> \frac{4}{2} (integers only)
std::string fix_leading_dot(std::string_view s);          // .5 -> 0.5
std::string remove_thousands_separators(std::string_view s);  // 1,000 and 1 000 -> 1000 (whole answer)
std::string strip_trailing_zeros(std::string_view s);     // 12.000 -> 12, 2.50 -> 2.5
std::string drop_simple_lhs(std::string_view s);          // x = 3 -> 3 (a lone name, a constant value)
std::string sort_integer_list(std::string_view s);        // 3,2,10 -> 2,3,10 (SkyThought; lists are sets)
std::string collapse_spaces(std::string_view s);          // drop spaces unless they end a command name
std::string map_infinity(std::string_view s);             // inf, infinity, ∞ -> \infty; ∅ -> \emptyset
std::string canonical_matrix(std::string_view s);         // bmatrix/array/vmatrix... -> pmatrix

bool has_percent(std::string_view s);

std::string normalize_answer(std::string_view s);

}  // namespace cotrain
