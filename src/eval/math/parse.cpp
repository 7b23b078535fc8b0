// Recursive descent over tokens. Grammar (loosest first):
//   list     := union (sep union)*            sep: , ; and or
//   union    := relation (\cup relation)*
//   relation := ratio (relop ratio)*          relop: = < > <= >= != \approx \in
//   ratio    := sum (':' sum)*
//   sum      := [+-±] term ((+|-|±) term)*
//   term     := unary ((* | / | implicit) unary)*
//   unary    := - unary | + unary | power
//   power    := postfix (^ exponent)?
//   postfix  := primary !*
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <unordered_set>

#include "cotrain/eval/math/expr.h"
#include "text.h"

namespace cotrain {
namespace {

enum class T { Num, Ident, Cmd, Op, End };

struct Token {
  T type;
  std::string text;
  int decimals = -1;
  bool spaced = false;  // whitespace right before it
};

const std::unordered_set<std::string>& function_names() {
  static const std::unordered_set<std::string> names = {
      "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
      "log", "ln", "lg", "exp", "sqrt", "frac", "binom", "dbinom", "tbinom", "det", "max", "min", "gcd", "lcm", "sum", "prod"};
  return names;
}

struct Lexer {
  std::string_view s;
  std::size_t i = 0;
  std::vector<Token> out;
  bool ok = true;

  std::size_t token_start = 0;
  void push(T t, std::string text, int decimals = -1) {
    bool spaced = token_start > 0 && (s[token_start - 1] == ' ' || s[token_start - 1] == '\t');
    out.push_back({t, std::move(text), decimals, spaced});
  }

  // `{...}` or one character, as written after _ or ^ or in \begin{...}.
  std::string read_group() {
    while (i < s.size() && s[i] == ' ') ++i;
    if (i >= s.size()) return {};
    if (s[i] != '{') return std::string(1, s[i++]);
    int depth = 0;
    std::size_t start = i;
    for (; i < s.size(); ++i) {
      if (s[i] == '{') ++depth;
      if (s[i] == '}' && --depth == 0) break;
    }
    if (i >= s.size()) { ok = false; return {}; }
    std::string inner(s.substr(start + 1, i - start - 1));
    ++i;
    return inner;
  }

  void subscript_into(std::string& name) {
    while (i < s.size() && (s[i] == '_' || s[i] == '\'')) {
      if (s[i] == '\'') { name += "'"; ++i; continue; }
      ++i;
      std::string sub;
      for (char c : read_group())
        if (c != ' ') sub.push_back(c);
      name += "_" + sub;
    }
  }

  void command() {
    std::size_t start = ++i;
    if (i < s.size() && !is_letter(s[i])) {
      char c = s[i++];
      if (c == '\\') push(T::Op, "\\\\");
      else if (c == '{') push(T::Op, "\\{");
      else if (c == '}') push(T::Op, "\\}");
      else if (c == '|') push(T::Op, "|");
      return;  // "\ ", "\%" and friends carry no meaning here
    }
    while (i < s.size() && is_letter(s[i])) ++i;
    std::string name(s.substr(start, i - start));
    static const std::unordered_set<std::string> fail = {"int", "lim", "dots", "ldots", "cdots", "vdots", "ddots",
                                                         "to", "rightarrow", "Rightarrow", "implies", "iff", "mod", "pmod", "bmod",
                                                         "cap", "setminus", "subset", "subseteq", "forall", "exists", "overline",
                                                         "vec", "overrightarrow", "angle", "triangle", "hat", "bar", "tilde", "choose",
                                                         "over", "wedge", "vee", "land", "lor", "neg", "perp", "parallel", "cong", "sim"};
    if (fail.count(name)) { ok = false; return; }
    if (name == "le" || name == "leq" || name == "leqslant") push(T::Op, "<=");
    else if (name == "ge" || name == "geq" || name == "geqslant") push(T::Op, ">=");
    else if (name == "lt") push(T::Op, "<");
    else if (name == "gt") push(T::Op, ">");
    else if (name == "ne" || name == "neq") push(T::Op, "!=");
    else if (name == "approx" || name == "simeq" || name == "equiv") push(T::Op, "~");
    else if (name == "cdot" || name == "times" || name == "ast") push(T::Op, "*");
    else if (name == "div") push(T::Op, "/");
    else if (name == "pm") push(T::Op, "pm");
    else if (name == "mp") push(T::Op, "mp");
    else if (name == "cup") push(T::Op, "cup");
    else if (name == "in") push(T::Op, "in");
    else if (name == "lfloor" || name == "rfloor" || name == "lceil" || name == "rceil") push(T::Op, name);
    else if (name == "lvert" || name == "rvert" || name == "vert" || name == "mid") push(T::Op, "|");
    else if (name == "langle") push(T::Op, "(");
    else if (name == "rangle") push(T::Op, ")");
    else if (name == "lbrace") push(T::Op, "\\{");
    else if (name == "rbrace") push(T::Op, "\\}");
    else if (name == "infty" || name == "infin") push(T::Ident, "\\infty");
    else if (name == "pi") push(T::Ident, "\\pi");
    else if (name == "emptyset") push(T::Op, "emptyset");
    else if (name == "begin" || name == "end") {
      std::string env = read_group();
      push(T::Op, name + ":" + env);
      if (name == "begin" && env == "array") read_group();
    } else if (function_names().count(name)) {
      push(T::Cmd, name);
    } else {
      std::string sym = "\\" + name;  // Greek letters and unknown commands are names
      subscript_into(sym);
      push(T::Ident, sym);
    }
  }

  void number() {
    std::size_t start = i;
    int decimals = -1;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
      ++i;
      std::size_t d = i;
      while (i < s.size() && is_digit(s[i])) ++i;
      decimals = static_cast<int>(i - d);
    }
    // scientific notation 4.5e33, 1e-3
    if (i + 1 < s.size() && (s[i] == 'e' || s[i] == 'E') &&
        (is_digit(s[i + 1]) || ((s[i + 1] == '-' || s[i + 1] == '+') && i + 2 < s.size() && is_digit(s[i + 2])))) {
      std::size_t e = i + 1;
      i += 2;
      while (i < s.size() && is_digit(s[i])) ++i;
      // places after the point of the value written out: 2.7778e-6 has 10
      long exponent = std::strtol(std::string(s.substr(e, std::min<std::size_t>(i - e, 6))).c_str(), nullptr, 10);
      decimals = static_cast<int>(std::clamp<long>(std::max(decimals, 0) - exponent, 0, 400));
    }
    if (i < s.size() && s[i] == '_') { ok = false; return; }  // 204_5: a numeral in another base
    push(T::Num, std::string(s.substr(start, i - start)), decimals);
  }

  void word() {
    std::size_t start = i;
    while (i < s.size() && is_letter(s[i])) ++i;
    std::string w(s.substr(start, i - start));
    if (w == "and" || w == "or") { push(T::Op, ";"); return; }
    if (function_names().count(w)) { push(T::Cmd, w); return; }
    if (w == "pi") { push(T::Ident, "\\pi"); return; }
    if (w.size() >= 3) { ok = false; return; }  // a word: compared as text
    for (std::size_t k = 0; k < w.size(); ++k) {
      std::string name(1, w[k]);
      if (k + 1 == w.size()) subscript_into(name);
      push(T::Ident, name);
    }
  }

  bool run() {
    while (ok && i < s.size()) {
      if (out.size() > kMaxTokens) return false;
      char c = s[i];
      if (c == ' ' || c == '\t') { ++i; continue; }
      token_start = i;
      if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) { number(); continue; }
      if (is_letter(c)) { word(); continue; }
      if (c == '\\') { command(); continue; }
      std::string_view rest = s.substr(i);
      auto starts = [&](std::string_view p) { return rest.substr(0, p.size()) == p; };
      if (starts("<=") || starts(">=") || starts("!=")) { push(T::Op, std::string(rest.substr(0, 2))); i += 2; continue; }
      if (starts("≤")) { push(T::Op, "<="); i += 3; continue; }
      if (starts("≥")) { push(T::Op, ">="); i += 3; continue; }
      if (starts("≠")) { push(T::Op, "!="); i += 3; continue; }
      if (starts("−")) { push(T::Op, "-"); i += 3; continue; }
      if (starts("×") || starts("·")) { push(T::Op, "*"); i += 2; continue; }
      if (std::string_view("+-*/^_()[]{},;|!=<>:&").find(c) != std::string_view::npos) {
        push(T::Op, std::string(1, c));
        ++i;
        continue;
      }
      return false;
    }
    push(T::End, "");
    return ok;
  }
};

Node make(Kind kind, std::vector<Node> kids = {}, std::string text = {}) {
  Node n;
  n.kind = kind;
  n.kids = std::move(kids);
  n.text = std::move(text);
  return n;
}

Node number(std::int64_t v) {
  Node n;
  n.value = Rational(v);
  return n;
}

struct ParseFailure {};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Node parse_top() {
    Node n = list({T::End, ""});
    if (peek().type != T::End) throw ParseFailure{};
    return n;
  }

 private:
  const Token& peek(std::size_t ahead = 0) const { return t_[std::min(p_ + ahead, t_.size() - 1)]; }
  bool is_op(std::string_view op, std::size_t ahead = 0) const { return peek(ahead).type == T::Op && peek(ahead).text == op; }
  void expect(std::string_view op) {
    if (!is_op(op)) throw ParseFailure{};
    ++p_;
  }

  struct Deeper {
    explicit Deeper(int& d) : d_(d) {
      if (++d_ > kMaxDepth) throw ParseFailure{};
    }
    ~Deeper() { --d_; }
    int& d_;
  };

  bool at_closer() const {
    const Token& k = peek();
    if (k.type == T::End) return true;
    if (k.type != T::Op) return false;
    return k.text == ")" || k.text == "]" || k.text == "}" || k.text == "\\}" || k.text == "&" || k.text == "\\\\" ||
           k.text.rfind("end:", 0) == 0 || k.text == "rfloor" || k.text == "rceil" || (k.text == "|" && abs_depth_ > 0);
  }

  // Items separated by , ; and or. ";" / "and" / "or" separate groups, commas items within a
  // group, so "p=5, q=2; p=7, q=2" keeps its two groups. A single item is returned as itself.
  Node list(const Token&) {
    Deeper d(depth_);
    std::vector<Node> groups, group;
    auto close_group = [&] {
      if (group.size() == 1) groups.push_back(std::move(group[0]));
      else if (group.size() > 1) groups.push_back(make(Kind::List, std::move(group)));
      group.clear();
    };
    while (true) {
      if (is_op(",")) { ++p_; continue; }  // empty items ("19, 46, and 82")
      if (is_op(";")) { ++p_; close_group(); continue; }
      if (at_closer()) break;
      group.push_back(union_());
      if (!(is_op(",") || is_op(";"))) break;
    }
    close_group();
    if (groups.size() == 1) return std::move(groups[0]);
    std::vector<Node> items;  // a group that is a plain list joins the outer list
    for (auto& g : groups) {
      if (g.kind == Kind::List && !all_assignments(g)) {
        for (auto& k : g.kids) items.push_back(std::move(k));
      } else {
        items.push_back(std::move(g));
      }
    }
    return make(Kind::List, std::move(items));
  }

  static bool all_assignments(const Node& list) {
    for (const auto& k : list.kids)
      if (k.kind != Kind::Relation || k.ops.size() != 1 || k.ops[0] != "=" || k.kids[0].kind != Kind::Symbol) return false;
    return true;
  }

  Node union_() {
    Node first = relation();
    if (!is_op("cup")) return first;
    std::vector<Node> parts{std::move(first)};
    while (is_op("cup")) {
      ++p_;
      parts.push_back(relation());
    }
    return make(Kind::Union, std::move(parts));
  }

  static bool is_name(const Node& n) { return n.kind == Kind::Symbol; }

  Node relation() {
    Node first = ratio();
    static const std::unordered_set<std::string> relops = {"=", "<", ">", "<=", ">=", "!=", "~", "in"};
    if (!(peek().type == T::Op && relops.count(peek().text))) return first;
    Node rel = make(Kind::Relation, {});
    rel.kids.push_back(std::move(first));
    while (peek().type == T::Op && relops.count(peek().text)) {
      std::string op = peek().text;
      ++p_;
      Node next = ratio();
      if (op == "~") {
        // "x \approx 11" names the value 11; "1/3 \approx 0.33" keeps the exact value
        if (is_name(rel.kids.back())) {
          rel.ops.push_back("=");
          rel.kids.push_back(std::move(next));
        }
        continue;
      }
      rel.ops.push_back(op);
      rel.kids.push_back(std::move(next));
    }
    if (rel.ops.empty()) return std::move(rel.kids[0]);
    return rel;
  }

  Node ratio() {
    Node first = sum();
    if (!is_op(":")) return first;
    Node rel = make(Kind::Relation, {});
    rel.kids.push_back(std::move(first));
    while (is_op(":")) {
      ++p_;
      rel.ops.push_back(":");
      rel.kids.push_back(sum());
    }
    return rel;
  }

  Node sum() {
    Deeper d(depth_);
    std::vector<Node> terms;
    bool first = true;
    while (true) {
      int sign = 1;
      bool pm = false;
      if (is_op("+")) { ++p_; }
      else if (is_op("-")) { ++p_; sign = -1; }
      else if (is_op("pm") || is_op("mp")) { ++p_; pm = true; }
      else if (!first) break;
      if (!first && !pm && sign == 1 && at_closer()) throw ParseFailure{};
      Node t = term();
      if (pm) {
        Node acc = terms.empty() ? number(0) : (terms.size() == 1 ? std::move(terms[0]) : make(Kind::Add, std::move(terms)));
        terms.clear();
        terms.push_back(make(Kind::PlusMinus, {std::move(acc), std::move(t)}));
      } else {
        terms.push_back(sign < 0 ? make(Kind::Neg, {std::move(t)}) : std::move(t));
      }
      first = false;
      if (!(is_op("+") || is_op("-") || is_op("pm") || is_op("mp"))) break;
    }
    if (terms.size() == 1) return std::move(terms[0]);
    return make(Kind::Add, std::move(terms));
  }

  bool starts_primary() const {
    const Token& k = peek();
    if (k.type == T::Num || k.type == T::Ident || k.type == T::Cmd) return true;
    if (k.type != T::Op) return false;
    return k.text == "(" || k.text == "[" || k.text == "{" || k.text == "\\{" || k.text == "lfloor" || k.text == "lceil" ||
           k.text.rfind("begin:", 0) == 0 || (k.text == "|" && abs_depth_ == 0);
  }

  Node term() {
    Deeper d(depth_);
    std::vector<Node> factors{unary()};
    while (true) {
      if (is_op("*")) {
        ++p_;
        factors.push_back(unary());
      } else if (is_op("/")) {
        ++p_;
        factors.push_back(make(Kind::Pow, {unary(), number(-1)}));
      } else if (starts_primary() && !(is_op("[") && factors.back().kind == Kind::Number)) {
        Node next = power();
        if (factors.size() == 1 && is_mixed_number(factors[0], next)) {  // 918\frac{1}{2} is 918 + 1/2
          return make(Kind::Add, {std::move(factors[0]), std::move(next)});
        }
        factors.push_back(std::move(next));
      } else {
        break;
      }
    }
    if (factors.size() == 1) return std::move(factors[0]);
    return make(Kind::Mul, std::move(factors));
  }

  // f(x), g(2), P(A), I(0): a function applied, not a product. Other letters before "(" multiply:
  // x(x+1).
  static bool is_function_name(const std::string& name) {
    if (name.empty()) return false;
    char c = name[0];
    bool plain = name.size() == 1 || name[1] == '_' || name[1] == '\'';
    return plain && (c == 'f' || c == 'g' || c == 'h' || (c >= 'A' && c <= 'Z'));
  }

  static bool is_integer_literal(const Node& n) { return n.kind == Kind::Number && n.decimals < 0 && n.value->is_integer(); }

  bool is_mixed_number(const Node& whole, const Node& frac) const {
    return is_integer_literal(whole) && p_ > 0 && frac.kind == Kind::Mul && frac.kids.size() == 2 &&
           is_integer_literal(frac.kids[0]) && frac.kids[1].kind == Kind::Pow && is_integer_literal(frac.kids[1].kids[0]) &&
           last_was_frac_;
  }

  Node unary() {
    Deeper d(depth_);
    if (is_op("-")) {
      ++p_;
      return make(Kind::Neg, {unary()});
    }
    if (is_op("+")) {
      ++p_;
      return unary();
    }
    if (is_op("pm")) {
      ++p_;
      return make(Kind::PlusMinus, {number(0), unary()});
    }
    return power();
  }

  Node exponent() {
    if (is_op("{")) {
      ++p_;
      Node e = list(peek());
      expect("}");
      return e;
    }
    if (is_op("-")) {
      ++p_;
      return make(Kind::Neg, {exponent()});
    }
    if (peek().type == T::Num && peek().text.size() > 1 && peek().decimals < 0) {  // x^23 in LaTeX is x^2 3
      Node n;
      auto v = Rational::from_decimal(peek().text.substr(0, 1));
      n.value = *v;
      t_[p_].text = t_[p_].text.substr(1);
      return n;
    }
    return postfix();
  }

  Node power() {
    Deeper d(depth_);
    Node base = postfix();
    if (!is_op("^")) return base;
    ++p_;
    return make(Kind::Pow, {std::move(base), exponent()});
  }

  Node postfix() {
    Node n = primary();
    while (is_op("!")) {
      ++p_;
      n = make(Kind::Func, {std::move(n)}, "factorial");
    }
    return n;
  }

  Node braced() {
    expect("{");
    Node n = list(peek());
    expect("}");
    return n;
  }

  Node bracket(const std::string& open) {
    std::size_t start = p_;
    Node inner = list(peek());
    std::string close = peek().type == T::Op ? peek().text : "";
    if (close != ")" && close != "]") throw ParseFailure{};
    ++p_;
    // (x) and [x] group; a tuple or interval needs two or more items
    bool matching = (open == "(" && close == ")") || (open == "[" && close == "]");
    if (matching && inner.kind != Kind::List && p_ - start > 1) return inner;
    Node tuple = make(Kind::Tuple, {}, open + close);
    if (inner.kind == Kind::List) tuple.kids = std::move(inner.kids);
    else tuple.kids.push_back(std::move(inner));
    return tuple;
  }

  Node matrix(const std::string& env) {
    Node m = make(Kind::Matrix);
    std::vector<Node> row;
    while (true) {
      if (peek().type == T::End) throw ParseFailure{};
      if (is_op("end:" + env)) { ++p_; break; }
      if (is_op("&")) { ++p_; continue; }
      if (is_op("\\\\")) {
        ++p_;
        if (!row.empty()) {
          if (m.cols && static_cast<int>(row.size()) != m.cols) throw ParseFailure{};
          m.cols = static_cast<int>(row.size());
          for (auto& c : row) m.kids.push_back(std::move(c));
          row.clear();
          ++m.rows;
        }
        continue;
      }
      row.push_back(sum());
    }
    if (!row.empty()) {
      if (m.cols && static_cast<int>(row.size()) != m.cols) throw ParseFailure{};
      m.cols = static_cast<int>(row.size());
      for (auto& c : row) m.kids.push_back(std::move(c));
      ++m.rows;
    }
    if (m.rows == 0) throw ParseFailure{};
    return m;
  }

  Node function(const std::string& name) {
    if (name == "frac") {
      Node a = braced(), b = braced();
      last_was_frac_ = true;
      return make(Kind::Mul, {std::move(a), make(Kind::Pow, {std::move(b), number(-1)})});
    }
    if (name == "binom" || name == "dbinom" || name == "tbinom") {
      Node a = braced(), b = braced();
      return make(Kind::Func, {std::move(a), std::move(b)}, "binom");
    }
    if (name == "sqrt") {
      Node index = number(2);
      if (is_op("[")) {
        ++p_;
        index = sum();
        expect("]");
      }
      Node arg = is_op("{") ? braced() : power();
      return make(Kind::Func, {std::move(arg), std::move(index)}, "root");
    }
    if (name == "sum" || name == "prod") {  // \sum_{k=a}^{b} body
      expect("_");
      Node range = braced();
      if (range.kind != Kind::Relation || range.ops.size() != 1 || range.ops[0] != "=" || range.kids[0].kind != Kind::Symbol)
        throw ParseFailure{};
      expect("^");
      Node upper = exponent();
      Node body = term();
      return make(Kind::Func, {std::move(range.kids[0]), std::move(range.kids[1]), std::move(upper), std::move(body)}, name);
    }
    std::string fname = name == "lg" ? "log10" : name;
    Node base;
    bool has_base = false;
    if (is_op("_") && (name == "log")) {
      ++p_;
      base = is_op("{") ? braced() : primary();
      has_base = true;
    }
    std::optional<Node> fpower;
    if (is_op("^")) {  // \sin^2 x
      ++p_;
      fpower = exponent();
    }
    std::vector<Node> args;
    if (is_op("(")) {
      ++p_;
      Node inner = list(peek());
      expect(")");
      if (inner.kind == Kind::List) args = std::move(inner.kids);
      else args.push_back(std::move(inner));
    } else {
      args.push_back(power());
    }
    Node f = make(Kind::Func, std::move(args), fname);
    if (has_base) {  // log_b x = ln x / ln b
      f.text = "ln";
      f = make(Kind::Mul, {std::move(f), make(Kind::Pow, {make(Kind::Func, {std::move(base)}, "ln"), number(-1)})});
    }
    if (fpower) f = make(Kind::Pow, {std::move(f), std::move(*fpower)});
    return f;
  }

  Node primary() {
    Deeper d(depth_);
    last_was_frac_ = false;
    const Token k = peek();
    ++p_;
    if (k.type == T::Num) {
      auto v = Rational::from_decimal(k.text);
      if (!v) throw ParseFailure{};
      Node n;
      n.value = *v;
      n.decimals = k.decimals;
      n.text = k.text;
      return n;
    }
    if (k.type == T::Ident) {
      if (is_function_name(k.text) && is_op("(") && !peek().spaced) {
        ++p_;
        Node inner = list(peek());
        expect(")");
        Node apply = make(Kind::Func, {}, "apply:" + k.text);
        if (inner.kind == Kind::List) apply.kids = std::move(inner.kids);
        else apply.kids.push_back(std::move(inner));
        return apply;
      }
      if (k.text == "\\pi") return make(Kind::Const, {}, "pi");
      if (k.text == "\\infty") return make(Kind::Const, {}, "inf");
      if (k.text == "e" || k.text == "i") return make(Kind::Const, {}, k.text);
      return make(Kind::Symbol, {}, k.text);
    }
    if (k.type == T::Cmd) return function(k.text);
    if (k.type != T::Op) throw ParseFailure{};
    if (k.text == "(" || k.text == "[") return bracket(k.text);
    if (k.text == "{") {
      Node inner = list(peek());
      expect("}");
      return inner;
    }
    if (k.text == "\\{") {
      Node inner = list(peek());
      expect("\\}");
      Node set = make(Kind::Set);
      if (inner.kind == Kind::List) set.kids = std::move(inner.kids);
      else set.kids.push_back(std::move(inner));
      return set;
    }
    if (k.text == "emptyset") return make(Kind::Set);
    if (k.text == "|") {
      ++abs_depth_;
      Node inner = sum();
      --abs_depth_;
      expect("|");
      return make(Kind::Func, {std::move(inner)}, "abs");
    }
    if (k.text == "lfloor" || k.text == "lceil") {
      Node inner = sum();
      expect(k.text == "lfloor" ? "rfloor" : "rceil");
      return make(Kind::Func, {std::move(inner)}, k.text == "lfloor" ? "floor" : "ceil");
    }
    if (k.text.rfind("begin:", 0) == 0) {
      std::string env = k.text.substr(6);
      if (env == "pmatrix") return matrix(env);
      throw ParseFailure{};
    }
    throw ParseFailure{};
  }

  std::vector<Token> t_;
  std::size_t p_ = 0;
  int depth_ = 0, abs_depth_ = 0;
  bool last_was_frac_ = false;  // the factor just parsed was written \frac{..}{..}
};

}  // namespace

std::optional<Node> parse_answer(std::string_view normalized) {
  if (normalized.empty() || normalized.size() > 4 * kMaxTokens) return std::nullopt;
  Lexer lexer;
  lexer.s = normalized;
  if (!lexer.run() || lexer.out.size() > kMaxTokens) return std::nullopt;
  try {
    return Parser(std::move(lexer.out)).parse_top();
  } catch (const ParseFailure&) {
    return std::nullopt;
  }
}

std::string to_string(const Node& n) {
  auto join = [&](std::string_view sep) {
    std::string out;
    for (std::size_t k = 0; k < n.kids.size(); ++k) out += (k ? std::string(sep) : "") + to_string(n.kids[k]);
    return out;
  };
  switch (n.kind) {
    case Kind::Number: return n.value->to_string();
    case Kind::Symbol: case Kind::Const: return n.text;
    case Kind::Add: return "(" + join(" + ") + ")";
    case Kind::Mul: return "(" + join(" * ") + ")";
    case Kind::Neg: return "-" + to_string(n.kids[0]);
    case Kind::Pow: return to_string(n.kids[0]) + "^" + to_string(n.kids[1]);
    case Kind::Func: return n.text + "(" + join(", ") + ")";
    case Kind::PlusMinus: return "(" + join(" ± ") + ")";
    case Kind::Tuple: return n.text.substr(0, 1) + join(", ") + n.text.substr(1);
    case Kind::Set: return "{" + join(", ") + "}";
    case Kind::List: return join(", ");
    case Kind::Union: return join(" ∪ ");
    case Kind::Matrix: return "matrix[" + std::to_string(n.rows) + "x" + std::to_string(n.cols) + "](" + join(", ") + ")";
    case Kind::Relation: {
      std::string out = to_string(n.kids[0]);
      for (std::size_t k = 0; k < n.ops.size(); ++k) out += " " + n.ops[k] + " " + to_string(n.kids[k + 1]);
      return out;
    }
  }
  return {};
}

}  // namespace cotrain
