#include "cotrain/eval/math/equivalence.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <complex>
#include <map>
#include <set>

#include "cotrain/core/rng.h"
#include "cotrain/eval/math/extract.h"
#include "cotrain/eval/math/normalize.h"

namespace cotrain {
namespace {

using Complex = std::complex<double>;
using Env = std::map<std::string, Complex>;

constexpr int kPoints = 6;             // random points per comparison of expressions with variables
constexpr std::size_t kMaxItems = 64;  // list/set sizes compared
constexpr double kExactTol = 1e-9;     // numeric noise when both sides are exact but irrational
constexpr double kDecimalTol = 1e-4;   // relative tolerance when an answer is written as a decimal

Node number_node(const Rational& r) {
  Node n;
  n.value = r;
  return n;
}

// ---- exact evaluation -------------------------------------------------------------------------

std::optional<Rational> exact(const Node& n, int depth = 0) {
  if (depth > kMaxDepth) return std::nullopt;
  switch (n.kind) {
    case Kind::Number: return n.value;
    case Kind::Neg: {
      auto v = exact(n.kids[0], depth + 1);
      if (!v) return std::nullopt;
      return v->negated();
    }
    case Kind::Add: {
      Rational sum(0);
      for (const auto& k : n.kids) {
        auto v = exact(k, depth + 1);
        if (!v) return std::nullopt;
        auto s = add(sum, *v);
        if (!s) return std::nullopt;
        sum = *s;
      }
      return sum;
    }
    case Kind::Mul: {
      Rational prod(1);
      for (const auto& k : n.kids) {
        auto v = exact(k, depth + 1);
        if (!v) return std::nullopt;
        auto p = mul(prod, *v);
        if (!p) return std::nullopt;
        prod = *p;
      }
      return prod;
    }
    case Kind::Pow: {
      auto base = exact(n.kids[0], depth + 1), e = exact(n.kids[1], depth + 1);
      if (!base || !e) return std::nullopt;
      if (e->den().bits() > 6 || e->num().bits() > 13) return std::nullopt;
      auto q = static_cast<int>(e->den().to_double());
      auto p = static_cast<std::int64_t>(e->num().to_double());
      auto powered = pow(*base, p);
      if (!powered) return std::nullopt;
      if (q == 1) return powered;
      return exact_root(*powered, q);
    }
    case Kind::Func: {
      if (n.text == "root") {
        auto x = exact(n.kids[0], depth + 1), k = exact(n.kids[1], depth + 1);
        if (!x || !k || !k->is_integer() || k->num().bits() > 7) return std::nullopt;
        return exact_root(*x, static_cast<int>(k->num().to_double()));
      }
      if (n.text == "abs" && n.kids.size() == 1) {
        auto x = exact(n.kids[0], depth + 1);
        if (!x) return std::nullopt;
        return x->num().negative() ? x->negated() : *x;
      }
      if (n.text == "factorial" && n.kids.size() == 1) {
        auto x = exact(n.kids[0], depth + 1);
        if (!x || !x->is_integer() || x->num().negative() || x->num().compare(BigInt(300)) > 0) return std::nullopt;
        // 0! to 300! made once: an answer list's alternatives evaluate the same factorials over and
        // over (a fuzzer's find spent half its time multiplying them out).
        static const std::vector<BigInt> factorials = [] {
          std::vector<BigInt> f{BigInt(1)};
          for (std::int64_t k = 1; k <= 300; ++k) f.push_back(*mul(f.back(), BigInt(k)));  // 300! has 2,041 bits
          return f;
        }();
        return Rational::make(factorials[static_cast<std::size_t>(x->num().to_double())], BigInt(1));
      }
      if (n.text == "binom" && n.kids.size() == 2) {
        auto a = exact(n.kids[0], depth + 1), b = exact(n.kids[1], depth + 1);
        if (!a || !b || !a->is_integer() || !b->is_integer() || a->num().compare(BigInt(1000)) > 0 || b->num().negative())
          return std::nullopt;
        // k > n before any conversion: k is unbounded (10^{400} is inf as a double).
        if (b->num().compare(a->num()) > 0) return Rational(0);
        auto nn = static_cast<std::int64_t>(a->num().to_double()), kk = static_cast<std::int64_t>(b->num().to_double());
        Rational r(1);
        for (std::int64_t j = 1; j <= kk; ++j) {
          auto m = mul(r, Rational(nn - kk + j));
          if (!m) return std::nullopt;
          auto d = div(*m, Rational(j));
          if (!d) return std::nullopt;
          r = *d;
        }
        return r;
      }
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

// ---- numeric evaluation -----------------------------------------------------------------------

bool finite(Complex v) { return std::isfinite(v.real()) && std::isfinite(v.imag()); }

// Below double's normal range: (x/10)^{5000} is not 0, it only rounded to it.
bool underflowed(Complex v) {
  double m = std::abs(v);
  return m != 0 && m < 1e-290;
}

bool has_series(const Node& n) {
  if (n.kind == Kind::Func && (n.text == "sum" || n.text == "prod")) return true;
  return std::any_of(n.kids.begin(), n.kids.end(), has_series);
}

Complex value(const Node& n, const Env& env, int depth = 0) {
  const double nan = std::nan("");
  if (depth > kMaxDepth) return {nan, 0};
  switch (n.kind) {
    case Kind::Number: return {n.value->to_double(), 0};
    case Kind::Symbol: {
      auto it = env.find(n.text);
      return it == env.end() ? Complex(nan, 0) : it->second;
    }
    case Kind::Const:
      if (n.text == "pi") return {M_PI, 0};
      if (n.text == "e") return {M_E, 0};
      if (n.text == "i") return {0, 1};
      return {INFINITY, 0};
    case Kind::Neg: return -value(n.kids[0], env, depth + 1);
    case Kind::Add: {
      Complex s = 0;
      for (const auto& k : n.kids) s += value(k, env, depth + 1);
      return s;
    }
    case Kind::Mul: {
      Complex p = 1;
      for (const auto& k : n.kids) p *= value(k, env, depth + 1);
      return p;
    }
    case Kind::Pow: {
      Complex b = value(n.kids[0], env, depth + 1), e = value(n.kids[1], env, depth + 1);
      Complex r;
      if (e.imag() == 0 && e.real() == std::round(e.real()) && std::abs(e.real()) <= 1024) {
        if (b == Complex(0) && e.real() < 0) return {nan, 0};
        r = std::pow(b, static_cast<int>(e.real()));
      } else if (b.imag() == 0 && b.real() > 0 && e.imag() == 0) {
        r = {std::pow(b.real(), e.real()), 0};
      } else {
        r = std::pow(b, e);
      }
      // A power of a non-zero base is never 0: it underflowed, and its value is unknown.
      if (r == Complex(0) && b != Complex(0) && finite(b) && finite(e)) return {nan, 0};
      return r;
    }
    case Kind::Func: {
      if ((n.text == "sum" || n.text == "prod") && n.kids.size() == 4) {  // at most 1000 terms, not nested
        if (has_series(n.kids[3])) return {nan, 0};
        double lo = std::ceil(value(n.kids[1], env, depth + 1).real()), hi = std::floor(value(n.kids[2], env, depth + 1).real());
        if (!(hi - lo < 1000)) return {nan, 0};
        Env inner = env;
        Complex acc = n.text == "sum" ? 0.0 : 1.0;
        for (double k = lo; k <= hi; ++k) {
          inner[n.kids[0].text] = k;
          Complex term = value(n.kids[3], inner, depth + 1);
          acc = n.text == "sum" ? acc + term : acc * term;
        }
        return acc;
      }
      std::vector<Complex> a;
      for (const auto& k : n.kids) a.push_back(value(k, env, depth + 1));
      if (a.empty()) return {nan, 0};
      const std::string& f = n.text;
      Complex x = a[0];
      if (f.rfind("apply:", 0) == 0) {  // an unknown function: a fixed smooth function of its name and arguments
        std::uint64_t h = std::hash<std::string>{}(f);
        Complex v = static_cast<double>(h % 1000) / 1000.0 + 0.5;
        for (std::size_t k = 0; k < a.size(); ++k) v = std::sin(v * 1.7 + a[k] * (1.3 + 0.1 * static_cast<double>(k))) + 1.1;
        return v;
      }
      if (f == "root") {
        double k = a.size() > 1 ? a[1].real() : 2;
        if (x.imag() == 0 && x.real() < 0 && std::fmod(k, 2) == 1) return {-std::pow(-x.real(), 1 / k), 0};
        if (x.imag() == 0 && x.real() >= 0) return {std::pow(x.real(), 1 / k), 0};
        return std::pow(x, 1 / k);
      }
      if (f == "sin") return std::sin(x);
      if (f == "cos") return std::cos(x);
      if (f == "tan") return std::tan(x);
      if (f == "sec") return 1.0 / std::cos(x);
      if (f == "csc") return 1.0 / std::sin(x);
      if (f == "cot") return 1.0 / std::tan(x);
      if (f == "arcsin") return std::asin(x);
      if (f == "arccos") return std::acos(x);
      if (f == "arctan") return std::atan(x);
      if (f == "sinh") return std::sinh(x);
      if (f == "cosh") return std::cosh(x);
      if (f == "tanh") return std::tanh(x);
      if (f == "ln" || f == "log") return std::log(x);
      if (f == "log10") return std::log10(x);
      if (f == "exp") return std::exp(x);
      if (f == "abs") return std::abs(x);
      if (f == "floor") return {std::floor(x.real()), 0};
      if (f == "ceil") return {std::ceil(x.real()), 0};
      if (f == "factorial") return x.real() > 170 ? Complex(INFINITY, 0) : Complex(std::tgamma(x.real() + 1), 0);
      if (f == "binom" && a.size() == 2) {
        double nn = x.real(), kk = a[1].real();
        return {std::exp(std::lgamma(nn + 1) - std::lgamma(kk + 1) - std::lgamma(nn - kk + 1)), 0};
      }
      if (f == "max" || f == "min") {
        double best = x.real();
        for (auto& v : a) best = f == "max" ? std::max(best, v.real()) : std::min(best, v.real());
        return {best, 0};
      }
      return {nan, 0};
    }
    default: return {nan, 0};
  }
}

void collect_symbols(const Node& n, std::set<std::string>& out) {
  if (n.kind == Kind::Symbol) out.insert(n.text);
  for (const auto& k : n.kids) collect_symbols(k, out);
}

bool has_decimal(const Node& n) {
  if (n.kind == Kind::Number) return n.decimals >= 0;
  return std::any_of(n.kids.begin(), n.kids.end(), has_decimal);
}

bool contains(const Node& n, Kind kind) {
  if (n.kind == Kind::Number || n.kind == Kind::Symbol) return false;
  if (n.kind == kind) return true;
  return std::any_of(n.kids.begin(), n.kids.end(), [&](const Node& k) { return contains(k, kind); });
}

// Digits after the point when the node is a plain decimal literal (possibly negated), else -1.
int literal_decimals(const Node& n) {
  if (n.kind == Kind::Neg) return literal_decimals(n.kids[0]);
  return n.kind == Kind::Number ? n.decimals : -1;
}

// Relative closeness. Floating-point noise around zero (cos(pi/2) against 0) is forgiven only for
// exact answers: a written decimal such as 2.88e-19 is compared relatively, never absolutely.
bool close(Complex a, Complex b, double tol, bool approx = false) {
  double scale = std::max(std::abs(a), std::abs(b));
  return std::abs(a - b) <= tol * scale || (!approx && std::abs(a - b) <= 1e-13);
}


bool written_infinity(const Node& n) {
  if (n.kind == Kind::Const) return n.text == "inf";
  return std::any_of(n.kids.begin(), n.kids.end(), written_infinity);
}

Verdict scalar(const Node& a, const Node& b) {
  bool approx = has_decimal(a) || has_decimal(b);
  auto ea = exact(a), eb = exact(b);
  if (ea && eb) {
    if (*ea == *eb) return {true, "exact value"};
    if (!approx) return {false, "exact values differ"};
  }
  std::set<std::string> symbols;
  collect_symbols(a, symbols);
  collect_symbols(b, symbols);
  double tol = approx ? kDecimalTol : kExactTol;
  if (symbols.empty()) {
    Complex va = value(a, {}), vb = value(b, {});
    if (!finite(va) || !finite(vb)) {
      // Only a written infinity is infinite: 2^{5000} or 1000! merely overflowed a double, and two
      // such values are the same only if written the same way.
      if (!written_infinity(a) || !written_infinity(b)) {
        if (to_string(a) == to_string(b)) return {true, "same form (beyond exact range)"};
        return {false, "cannot decide (beyond exact and floating-point range)"};
      }
      bool same_inf = std::isinf(va.real()) && std::isinf(vb.real()) && (va.real() > 0) == (vb.real() > 0);
      return {same_inf, same_inf ? "infinity" : "not a finite value"};
    }
    if (close(va, vb, tol, approx)) return {true, approx ? "numeric within 1e-4" : "numeric value"};
    // A decimal written with d >= 2 places that is the rounding of the exact other side.
    for (auto [lit, other, vl, vo] : {std::tuple{&a, &b, va, vb}, std::tuple{&b, &a, vb, va}}) {
      int d = literal_decimals(*lit);
      if (d >= 2 && !has_decimal(*other) && std::abs(vl - vo) <= 0.5 * std::pow(10.0, -d) * (1 + 1e-9))
        return {true, "rounded decimal"};
    }
    return {false, "values differ"};
  }
  Rng rng(0x5eed);  // a fixed seed: verdicts never depend on the run
  int agreed = 0;
  for (int point = 0; point < kPoints * 3 && agreed < kPoints; ++point) {
    Env env;
    for (const auto& s : symbols) env[s] = Complex(0.5 + 7.0 * rng.uniform(), 0);
    Complex va = value(a, env), vb = value(b, env);
    if (!finite(va) || !finite(vb) || underflowed(va) || underflowed(vb)) continue;
    if (!close(va, vb, approx ? kDecimalTol : 1e-7, approx)) return {false, "differ at a random point"};
    ++agreed;
  }
  if (agreed < 3) return {false, "undecidable (too few valid points)"};
  return {true, "equal at random points"};
}

// lhs - rhs of a two-sided relation.
Node difference(const Node& rel) {
  Node d;
  d.kind = Kind::Add;
  d.kids.push_back(rel.kids[0]);
  Node neg;
  neg.kind = Kind::Neg;
  neg.kids.push_back(rel.kids[1]);
  d.kids.push_back(std::move(neg));
  return d;
}

// a == k * b for one constant k (k > 0 when positive_only), checked at random points.
bool proportional(const Node& a, const Node& b, bool positive_only) {
  std::set<std::string> symbols;
  collect_symbols(a, symbols);
  collect_symbols(b, symbols);
  if (symbols.empty()) return false;
  Rng rng(0xfeed);
  std::optional<Complex> k;
  int agreed = 0;
  for (int point = 0; point < kPoints * 3 && agreed < kPoints; ++point) {
    Env env;
    for (const auto& s : symbols) env[s] = Complex(0.5 + 7.0 * rng.uniform(), 0);
    Complex va = value(a, env), vb = value(b, env);
    if (!finite(va) || !finite(vb) || std::abs(vb) < 1e-9 || std::abs(va) < 1e-9) continue;
    Complex ratio = va / vb;
    if (!k) {
      k = ratio;
      if (positive_only && !(k->real() > 0)) return false;
    } else if (!close(ratio, *k, 1e-7)) {
      return false;
    }
    ++agreed;
  }
  return agreed >= 3;
}

bool is_equation(const Node& n) {
  return n.kind == Kind::Relation && std::all_of(n.ops.begin(), n.ops.end(), [](const std::string& o) { return o == "="; });
}

bool is_ratio(const Node& n) {
  return n.kind == Kind::Relation && std::all_of(n.ops.begin(), n.ops.end(), [](const std::string& o) { return o == ":"; });
}

// A left-hand side that names the answer ("x", "f(x)", "|AB|", "(p,q)", "A:B"), not one that
// constrains it ("2x + z", "7").
bool names_value(const Node& lhs) {
  if (lhs.kind == Kind::Number || lhs.kind == Kind::Add || lhs.kind == Kind::Neg || contains(lhs, Kind::PlusMinus)) return false;
  std::set<std::string> symbols;
  collect_symbols(lhs, symbols);
  return !symbols.empty();
}

bool is_inequality_op(const std::string& op) { return op == "<" || op == "<=" || op == ">" || op == ">="; }

// An inequality chain rewritten to increase left to right ("x > 5" -> "5 < x"), or nullopt.
std::optional<Node> increasing(const Node& rel) {
  if (rel.kind != Kind::Relation || rel.ops.empty() || !std::all_of(rel.ops.begin(), rel.ops.end(), is_inequality_op))
    return std::nullopt;
  bool up = rel.ops[0][0] == '<';
  for (const auto& op : rel.ops)
    if ((op[0] == '<') != up) return std::nullopt;
  Node out = rel;
  if (!up) {
    std::reverse(out.kids.begin(), out.kids.end());
    std::reverse(out.ops.begin(), out.ops.end());
    for (auto& op : out.ops) op[0] = '<';
  }
  return out;
}

Node infinity(bool negative) {
  Node inf;
  inf.kind = Kind::Const;
  inf.text = "inf";
  if (!negative) return inf;
  Node neg;
  neg.kind = Kind::Neg;
  neg.kids.push_back(std::move(inf));
  return neg;
}

// The value a relation states: "x = 3" -> 3, "a = b = 7" -> 7, "x \in S" -> S,
// "-2 <= x < 7" -> [-2, 7), "x > 5" -> (5, inf).
std::optional<Node> stated_value(const Node& rel) {
  if (is_equation(rel)) {
    if (rel.kids.size() >= 3) return rel.kids.back();
    if (names_value(rel.kids[0])) return rel.kids[1];
    std::set<std::string> symbols;  // a worked computation "2 + 3 = 5" states its last side
    collect_symbols(rel, symbols);
    if (symbols.empty()) return rel.kids[1];
    return std::nullopt;
  }
  if (rel.ops.size() == 1 && rel.ops[0] == "in") return rel.kids[1];
  auto inc = increasing(rel);
  if (!inc) return std::nullopt;
  Node interval;
  interval.kind = Kind::Tuple;
  if (inc->kids.size() == 3 && inc->kids[1].kind != Kind::Number) {
    interval.text = std::string(inc->ops[0] == "<" ? "(" : "[") + (inc->ops[1] == "<" ? ")" : "]");
    interval.kids = {inc->kids[0], inc->kids[2]};
    return interval;
  }
  if (inc->kids.size() == 2) {
    bool var_left = inc->kids[0].kind == Kind::Symbol, var_right = inc->kids[1].kind == Kind::Symbol;
    if (var_left == var_right) return std::nullopt;
    bool closed = inc->ops[0] == "<=";
    if (var_left) {  // x < c
      interval.text = std::string("(") + (closed ? "]" : ")");
      interval.kids = {infinity(true), inc->kids[1]};
    } else {  // c < x
      interval.text = std::string(closed ? "[" : "(") + ")";
      interval.kids = {inc->kids[0], infinity(false)};
    }
    return interval;
  }
  return std::nullopt;
}

Verdict equal(const Node& a, const Node& b, int depth);

Verdict ordered(const std::vector<Node>& a, const std::vector<Node>& b, int depth, const char* what) {
  if (a.size() != b.size()) return {false, std::string(what) + " sizes differ"};
  for (std::size_t k = 0; k < a.size(); ++k) {
    Verdict v = equal(a[k], b[k], depth + 1);
    if (!v.equal) return {false, std::string(what) + " element " + std::to_string(k + 1) + ": " + v.reason};
  }
  return {true, std::string(what) + " elementwise"};
}

// Lists of answers are sets: a repeated answer counts once.
std::vector<Node> distinct(const std::vector<Node>& items, int depth) {
  std::vector<Node> out;
  for (const auto& x : items) {
    if (out.size() > kMaxItems) break;
    if (std::none_of(out.begin(), out.end(), [&](const Node& y) { return equal(x, y, depth + 1).equal; })) out.push_back(x);
  }
  return out;
}

Verdict unordered(const std::vector<Node>& a_in, const std::vector<Node>& b_in, int depth, const char* what) {
  if (a_in.size() > kMaxItems || b_in.size() > kMaxItems) return {false, std::string(what) + " too large"};
  std::vector<Node> a = distinct(a_in, depth), b = distinct(b_in, depth);
  if (a.size() != b.size()) return {false, std::string(what) + " sizes differ"};
  std::vector<bool> used(b.size(), false);
  for (const auto& x : a) {
    bool found = false;
    for (std::size_t k = 0; k < b.size() && !found; ++k)
      if (!used[k] && equal(x, b[k], depth + 1).equal) used[k] = found = true;
    if (!found) return {false, std::string(what) + " has an unmatched element"};
  }
  return {true, std::string(what) + " in any order"};
}

// ± as two answers: a ± b -> {a + b, a - b}; capped at 16 combinations.
std::vector<Node> expand_plus_minus(const Node& n) {
  if (!contains(n, Kind::PlusMinus)) return {n};
  if (n.kind == Kind::PlusMinus) {
    std::vector<Node> out;
    for (const auto& left : expand_plus_minus(n.kids[0]))
      for (const auto& right : expand_plus_minus(n.kids[1])) {
        if (out.size() >= 16) return out;
        Node plus;
        plus.kind = Kind::Add;
        plus.kids = {left, right};
        Node neg;
        neg.kind = Kind::Neg;
        neg.kids = {right};
        Node minus;
        minus.kind = Kind::Add;
        minus.kids = {left, neg};
        out.push_back(plus);
        out.push_back(minus);
      }
    return out;
  }
  std::vector<Node> out{n};
  for (std::size_t k = 0; k < n.kids.size(); ++k) {
    std::vector<Node> next;
    for (const auto& partial : out)
      for (const auto& option : expand_plus_minus(n.kids[k])) {
        if (next.size() >= 16) break;
        Node copy = partial;
        copy.kids[k] = option;
        next.push_back(std::move(copy));
      }
    out = std::move(next);
  }
  return out;
}

bool is_collection(const Node& n) {
  return n.kind == Kind::List || n.kind == Kind::Set || n.kind == Kind::Tuple || n.kind == Kind::Union || n.kind == Kind::Matrix;
}

Verdict relations(const Node& a, const Node& b, int depth) {
  if (is_ratio(a) && is_ratio(b)) return ordered(a.kids, b.kids, depth, "ratio");
  if (is_equation(a) && is_equation(b)) {
    if (a.kids.size() == 2 && b.kids.size() == 2 && proportional(difference(a), difference(b), false))
      return {true, "equations proportional"};
    auto va = stated_value(a), vb = stated_value(b);
    if (va && vb && to_string(a.kids[0]) == to_string(b.kids[0])) return equal(*va, *vb, depth + 1);
    return {false, "equations differ"};
  }
  auto ia = increasing(a), ib = increasing(b);
  if (ia && ib && ia->ops == ib->ops) {
    if (ia->kids.size() == 2 && proportional(difference(*ia), difference(*ib), true)) return {true, "inequalities equivalent"};
    if (ia->kids.size() == 3) return ordered(ia->kids, ib->kids, depth, "inequality");
  }
  if (a.ops == b.ops && a.ops.size() == 1 && a.ops[0] == "!=" && proportional(difference(a), difference(b), false))
    return {true, "relations equivalent"};
  auto va = stated_value(a), vb = stated_value(b);
  if (va && vb) return equal(*va, *vb, depth + 1);
  if (va) return equal(*va, b, depth + 1);  // "A:B = 7:32" against "7:32"
  if (vb) return equal(a, *vb, depth + 1);
  return {false, "relations differ"};
}

Node make_node(Kind kind, std::vector<Node> kids) {
  Node n;
  n.kind = kind;
  n.kids = std::move(kids);
  return n;
}

// A sum or product of matrices (and scalars) worked out to one matrix of cell expressions.
std::optional<Node> matrix_value(const Node& n, int depth = 0) {
  if (depth > 2) return std::nullopt;
  if (n.kind == Kind::Matrix) return n;
  if (n.kind == Kind::Neg) {
    auto m = matrix_value(n.kids[0], depth + 1);
    if (!m) return std::nullopt;
    for (auto& c : m->kids) c = make_node(Kind::Neg, {c});
    return m;
  }
  if (n.kind != Kind::Add && n.kind != Kind::Mul) return std::nullopt;
  std::optional<Node> acc;
  std::optional<Node> scalar_factor;
  if (n.kids.size() > 4) return std::nullopt;  // cell expressions grow with every factor
  for (const auto& k : n.kids) {
    auto m = contains(k, Kind::Matrix) ? matrix_value(k, depth + 1) : std::nullopt;
    if (!m) {
      if (n.kind == Kind::Add || contains(k, Kind::Matrix) || is_collection(k)) return std::nullopt;
      scalar_factor = scalar_factor ? make_node(Kind::Mul, {*scalar_factor, k}) : k;
      continue;
    }
    if (m->rows * m->cols > 100) return std::nullopt;
    if (!acc) {
      acc = m;
    } else if (n.kind == Kind::Add) {
      if (acc->rows != m->rows || acc->cols != m->cols) return std::nullopt;
      for (std::size_t c = 0; c < acc->kids.size(); ++c) acc->kids[c] = make_node(Kind::Add, {acc->kids[c], m->kids[c]});
    } else {
      if (acc->cols != m->rows) return std::nullopt;
      Node product = *m;
      product.rows = acc->rows;
      product.kids.clear();
      for (int r = 0; r < acc->rows; ++r)
        for (int c = 0; c < m->cols; ++c) {
          Node cell = make_node(Kind::Add, {});
          for (int k = 0; k < acc->cols; ++k)
            cell.kids.push_back(make_node(Kind::Mul, {acc->kids[r * acc->cols + k], m->kids[k * m->cols + c]}));
          product.kids.push_back(std::move(cell));
        }
      acc = std::move(product);
    }
  }
  if (!acc) return std::nullopt;
  if (scalar_factor)
    for (auto& c : acc->kids) c = make_node(Kind::Mul, {*scalar_factor, c});
  return acc;
}

// Two tuples of named values ("p = 5, q = 2"): matched by name when both name the same things.
std::optional<Verdict> named_values(const Node& a, const Node& b, int depth) {
  if (a.ops.empty() || a.ops.size() != b.ops.size()) return std::nullopt;
  auto by_name = [](const Node& t) {
    std::vector<std::size_t> order(t.kids.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return t.ops[x] < t.ops[y]; });
    std::vector<Node> out;
    for (auto k : order) out.push_back(t.kids[k]);
    return out;
  };
  std::vector<std::string> na = a.ops, nb = b.ops;
  std::sort(na.begin(), na.end());
  std::sort(nb.begin(), nb.end());
  if (na != nb) return std::nullopt;
  return ordered(by_name(a), by_name(b), depth, "named values");
}

Verdict equal(const Node& a, const Node& b, int depth) {
  if (depth > 40) return {false, "too deep"};
  for (const Node* side : {&a, &b}) {
    if (side->kind != Kind::Matrix && contains(*side, Kind::Matrix) && !is_collection(*side) && side->kind != Kind::Relation) {
      auto m = matrix_value(*side);
      if (!m) return {false, "matrix expression not understood"};
      return side == &a ? equal(*m, b, depth + 1) : equal(a, *m, depth + 1);
    }
  }
  if (a.kind == Kind::Relation && b.kind == Kind::Relation) return relations(a, b, depth);
  if (a.kind == Kind::Relation || b.kind == Kind::Relation) {
    const Node& rel = a.kind == Kind::Relation ? a : b;
    auto v = stated_value(rel);
    if (!v) return {false, "relation against a value"};
    return a.kind == Kind::Relation ? equal(*v, b, depth + 1) : equal(a, *v, depth + 1);
  }
  if (!is_collection(a) && !is_collection(b) && (contains(a, Kind::PlusMinus) || contains(b, Kind::PlusMinus))) {
    auto xa = expand_plus_minus(a), xb = expand_plus_minus(b);
    if (xa.size() == 1 && xb.size() == 1) return scalar(xa[0], xb[0]);
    return unordered(xa, xb, depth, "± values");
  }
  // Answer lists may hold ± items: expand them into the list.
  auto flat = [](const Node& n) {
    std::vector<Node> out;
    for (const auto& k : n.kids)
      for (auto& x : (is_collection(k) ? std::vector<Node>{k} : expand_plus_minus(k))) out.push_back(std::move(x));
    return out;
  };
  bool list_a = a.kind == Kind::List || a.kind == Kind::Set, list_b = b.kind == Kind::List || b.kind == Kind::Set;
  if (list_a && list_b) return unordered(flat(a), flat(b), depth, "list");
  if (list_a || list_b) {
    const Node& list = list_a ? a : b;
    const Node& other = list_a ? b : a;
    if (other.kind == Kind::Tuple && list.kind == Kind::List) return ordered(list_a ? a.kids : b.kids, list_a ? b.kids : a.kids, depth, "tuple");
    if (!is_collection(other) && contains(other, Kind::PlusMinus)) {
      std::vector<Node> expanded = expand_plus_minus(other);
      return list_a ? unordered(flat(a), expanded, depth, "list") : unordered(expanded, flat(b), depth, "list");
    }
    if (flat(list).size() == 1) return list_a ? equal(flat(a)[0], b, depth + 1) : equal(a, flat(b)[0], depth + 1);
    return {false, "a list against a single answer"};
  }
  for (const Node* t : {&a, &b})  // \left[\begin{array}...\right]: brackets around a matrix
    if (t->kind == Kind::Tuple && t->kids.size() == 1 && t->kids[0].kind == Kind::Matrix)
      return t == &a ? equal(a.kids[0], b, depth + 1) : equal(a, b.kids[0], depth + 1);
  if (a.kind == Kind::Tuple && b.kind == Kind::Tuple) {
    if (auto named = named_values(a, b, depth)) return *named;
    if (a.text != b.text) return {false, "brackets differ (" + a.text + " vs " + b.text + ")"};
    return ordered(a.kids, b.kids, depth, a.text == "()" ? "tuple" : "interval");
  }
  if (a.kind == Kind::Union && b.kind == Kind::Union) return unordered(a.kids, b.kids, depth, "union");
  if (a.kind == Kind::Matrix && b.kind == Kind::Matrix) {
    if (a.rows != b.rows || a.cols != b.cols) return {false, "matrix shapes differ"};
    return ordered(a.kids, b.kids, depth, "matrix");
  }
  if ((a.kind == Kind::Matrix && b.kind == Kind::Tuple) || (a.kind == Kind::Tuple && b.kind == Kind::Matrix)) {
    const Node& m = a.kind == Kind::Matrix ? a : b;
    const Node& t = a.kind == Kind::Matrix ? b : a;
    if ((m.rows == 1 || m.cols == 1) && t.text == "()") return ordered(m.kids, t.kids, depth, "vector");
    return {false, "matrix against a tuple"};
  }
  if (a.kind == Kind::Tuple && a.text == "()" && a.kids.size() == 1) return equal(a.kids[0], b, depth + 1);
  if (b.kind == Kind::Tuple && b.text == "()" && b.kids.size() == 1) return equal(a, b.kids[0], depth + 1);
  if (is_collection(a) || is_collection(b)) return {false, "different kinds of answer"};
  return scalar(a, b);
}

std::string simple_text(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c)) && c != '{' && c != '}' && c != '\\')
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

// "(C)" -> "C": a multiple-choice letter.
std::optional<char> choice_letter(std::string_view s) {
  std::string t;
  for (char c : s)
    if (c != '(' && c != ')' && c != ' ') t.push_back(c);
  if (t.size() == 1 && std::isalpha(static_cast<unsigned char>(t[0]))) return static_cast<char>(std::toupper(static_cast<unsigned char>(t[0])));
  return std::nullopt;
}

Node scaled(const Node& n, const Rational& factor) {
  Node m;
  m.kind = Kind::Mul;
  m.kids = {n, number_node(factor)};
  return m;
}

// Several named assignments "p = 5, q = 2" are one tuple, in written order, that remembers the
// names (in ops) so that two such tuples are matched by name.
void assignments_to_tuples(Node& n, int depth = 0) {
  if (depth > kMaxDepth) return;
  for (auto& k : n.kids) assignments_to_tuples(k, depth + 1);
  if (n.kind != Kind::List || n.kids.size() < 2) return;
  std::set<std::string> names;
  for (const auto& k : n.kids) {
    if (!is_equation(k) || k.kids.size() != 2 || k.kids[0].kind != Kind::Symbol) return;
    names.insert(k.kids[0].text);
  }
  if (names.size() != n.kids.size()) {  // "x = 1, x = 2": a list of values
    for (auto& k : n.kids) {
      Node v = k.kids[1];
      k = std::move(v);
    }
    return;
  }
  Node tuple;
  tuple.kind = Kind::Tuple;
  tuple.text = "()";
  for (auto& k : n.kids) {
    tuple.ops.push_back(k.kids[0].text);
    tuple.kids.push_back(k.kids[1]);
  }
  n = std::move(tuple);
}

// "1,22" against "1.22": the same number written with a decimal comma. Only when the other side
// has the point in the same place, because "11,13" alone is a list of two answers.
bool decimal_comma_match(std::string_view a, std::string_view b) {
  auto digits = [](std::string_view s) {
    std::string out;
    for (char c : s)
      if (c != ' ' && c != '$') out.push_back(c);
    return out;
  };
  std::string x = digits(a), y = digits(b);
  if (std::count(x.begin(), x.end(), ',') + std::count(y.begin(), y.end(), ',') != 1) return false;
  if (x.size() != y.size() || x.empty()) return false;
  for (std::size_t k = 0; k < x.size(); ++k) {
    char p = x[k] == ',' ? '.' : x[k], q = y[k] == ',' ? '.' : y[k];
    if (p != q || !(std::isdigit(static_cast<unsigned char>(p)) || p == '.' || p == '-')) return false;
  }
  return true;
}

}  // namespace

std::optional<Node> prepare_answer(std::string_view normalized) {
  auto node = parse_answer(normalized);
  if (node) assignments_to_tuples(*node);
  return node;
}

Verdict equivalent(const Node& gold, const Node& pred) { return equal(gold, pred, 0); }

Verdict equivalent_answers(std::string_view gold, std::string_view pred, bool percent) {
  if (pred.empty()) return {gold.empty(), gold.empty() ? "both empty" : "no answer"};
  if (gold == pred) return {true, "same normalised text"};
  auto ca = choice_letter(gold), cb = choice_letter(pred);
  if (ca && cb) return {*ca == *cb, *ca == *cb ? "same choice letter" : "different choice letters"};
  auto a = prepare_answer(gold), b = prepare_answer(pred);
  if (!a || !b) {
    bool same = simple_text(gold) == simple_text(pred);
    return {same, same ? "same text" : (a || b ? "text against math" : "text differs")};
  }
  Verdict v = equivalent(*a, *b);
  if (v.equal || !percent || is_collection(*b) || b->kind == Kind::Relation) return v;
  for (const auto& factor : {Rational(100), *div(Rational(1), Rational(100))}) {
    if (equivalent(*a, scaled(*b, factor)).equal) return {true, "equal as a percentage"};
  }
  return v;
}

Grade grade(std::string_view gold, std::string_view prediction, bool extract_gold, const ExtractOptions& options) {
  Grade g;
  Extraction pred = extract_answer(prediction, options);
  g.pred_answer = pred.answer;
  g.extraction = pred.method;
  g.gold_answer = std::string(gold);
  if (extract_gold) {  // a gold solution gives its boxed or stated answer; anything else is the answer itself
    ExtractOptions gold_options;
    gold_options.last_number = false;
    Extraction e = extract_answer(gold, gold_options);
    if (e.method == "boxed" || e.method == "minerva" || e.method == "answer_is" || e.method == "whole") g.gold_answer = e.answer;
  }
  g.gold_normalized = normalize_answer(g.gold_answer);
  g.pred_normalized = normalize_answer(g.pred_answer);
  Verdict v = equivalent_answers(g.gold_normalized, g.pred_normalized, has_percent(g.gold_answer) || has_percent(g.pred_answer));
  if (!v.equal && decimal_comma_match(g.gold_answer, g.pred_answer)) v = {true, "decimal comma"};
  g.equal = v.equal;
  g.reason = v.reason;
  return g;
}

}  // namespace cotrain
