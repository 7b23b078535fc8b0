// Answers as trees: a small LaTeX / plain-math parser. Subtraction is Add with Neg, division is
// Mul with Pow(x, -1), so that evaluation and comparison have few cases. Everything is bounded:
// at most kMaxTokens tokens and kMaxDepth nesting; beyond that parse_answer gives nullopt and the
// caller compares text.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cotrain/eval/math/rational.h"

namespace cotrain {

enum class Kind {
  Number,     // *value (exact), decimals = digits after the point as written (-1: none written)
  Symbol,     // text = name ("x", "a_3", "alpha")
  Const,      // text = "pi", "e", "i", "inf"
  Add,        // kids summed
  Mul,        // kids multiplied
  Neg,        // -kids[0]
  Pow,        // kids[0]^kids[1]
  Func,       // text = name (sin, log, sqrt, abs, floor, factorial, binom, ...), kids = args
  PlusMinus,  // kids[0] ± kids[1]
  Tuple,      // text = brackets, e.g. "()", "[)"; ordered (also intervals)
  Set,        // \{...\}: unordered
  List,       // answers separated by , ; "and" "or": unordered
  Union,      // A \cup B: unordered
  Matrix,     // rows x cols cells, row-major in kids
  Relation,   // kids = operands of a chain, ops = operators between them ("=", "<", "<=", "!=", ":", "in")
};

struct Node {
  Kind kind = Kind::Number;
  std::string text;
  std::optional<Rational> value;  // set for Number only (a Rational allocates; most nodes need none)
  int decimals = -1;
  int rows = 0, cols = 0;
  std::vector<std::string> ops;
  std::vector<Node> kids;
};

inline constexpr std::size_t kMaxTokens = 1000;
inline constexpr int kMaxDepth = 100;

// Parses a normalised answer; nullopt when it is not math (prose, unknown syntax, too big).
std::optional<Node> parse_answer(std::string_view normalized);

// A compact text form of a tree, for results and debugging ("(x + 1)^2" style).
std::string to_string(const Node& node);

}  // namespace cotrain
