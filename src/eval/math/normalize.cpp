#include "cotrain/eval/math/normalize.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <vector>

#include "text.h"

namespace cotrain {
namespace {

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    std::size_t at = s.find(from, pos);
    if (at == std::string_view::npos) break;
    out.append(s.substr(pos, at - pos));
    out.append(to);
    pos = at + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// Replaces the command `\name` only where it is not the prefix of a longer command.
std::string replace_command(std::string_view s, std::string_view name, std::string_view to) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    std::size_t at = s.find(name, pos);
    if (at == std::string_view::npos) break;
    std::size_t end = at + name.size();
    bool whole = !is_letter(name.back()) || end >= s.size() || !is_letter(s[end]);
    out.append(s.substr(pos, at - pos));
    out.append(whole ? to : name);
    pos = end;
  }
  out.append(s.substr(pos));
  return out;
}

// End of the brace group starting at s[open] == '{', or npos.
std::size_t group_end(std::string_view s, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

bool is_plain_number(std::string_view s) {
  std::size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  bool digits = false, dot = false;
  for (; i < s.size(); ++i) {
    if (is_digit(s[i])) digits = true;
    else if (s[i] == '.' && !dot) dot = true;
    else return false;
  }
  return digits;
}

bool is_integer_text(std::string_view s) {
  std::size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i)
    if (!is_digit(s[i])) return false;
  return true;
}

}  // namespace

std::string strip_outer_punctuation(std::string_view s) {
  std::string out = trim(s);
  while (true) {
    std::string before = out;
    if (!out.empty() && out.front() == ':') out = trim(std::string_view(out).substr(1));
    if (!out.empty() && out.back() == '.' && !(out.size() >= 2 && out[out.size() - 2] == '\\')) out = trim(std::string_view(out).substr(0, out.size() - 1));
    if (out.size() >= 2 && out.back() == '\\' && out[out.size() - 2] != '\\') out = trim(std::string_view(out).substr(0, out.size() - 1));
    if (out == before) return out;
  }
}

std::string unify_fractions(std::string_view s) {
  std::string out = replace_command(s, "\\dfrac", "\\frac");
  out = replace_command(out, "\\tfrac", "\\frac");
  return replace_command(out, "\\cfrac", "\\frac");
}

std::string remove_left_right(std::string_view s) {
  std::string out(s);
  for (const char* cmd : {"\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\biggl", "\\biggr", "\\big", "\\Big", "\\bigg"})
    out = replace_command(out, cmd, "");
  return out;
}

std::string join_latex_thousands(std::string_view s) {
  std::string out;
  auto skip_spaces = [&](std::size_t j) {
    while (j < s.size() && s[j] == ' ') ++j;
    return j;
  };
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool after_digit = !out.empty() && is_digit(out.back());
    if (after_digit) {
      // "{,}" or ",\!" (spaces allowed around) between digits
      std::size_t j = skip_spaces(i);
      if (j < s.size() && s[j] == '{') {
        std::size_t k = skip_spaces(j + 1);
        if (k < s.size() && s[k] == ',') {
          k = skip_spaces(k + 1);
          if (k < s.size() && s[k] == '}' && skip_spaces(k + 1) < s.size() && is_digit(s[skip_spaces(k + 1)])) {
            i = skip_spaces(k + 1) - 1;
            continue;
          }
        }
      }
      if (s.compare(j, 3, ",\\!") == 0 && skip_spaces(j + 3) < s.size() && is_digit(s[skip_spaces(j + 3)])) {
        i = skip_spaces(j + 3) - 1;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string remove_spacing(std::string_view s) {
  std::string out(s);
  for (const char* cmd : {"\\displaystyle", "\\textstyle"}) out = replace_command(out, cmd, " ");
  for (const char* cmd : {"\\qquad", "\\quad"}) out = replace_all(out, cmd, " ");  // "\quadx" is seen too
  std::string spaced;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\\' && i + 1 < out.size()) {
      char next = out[i + 1];
      if (next == '\\') {  // a row break "\\\\" stays whole
        spaced += "\\\\";
        ++i;
        continue;
      }
      if (next == '!' || next == ',' || next == ';' || next == ':' || next == ' ' || next == '>') {
        spaced += ' ';
        ++i;
        continue;
      }
    }
    spaced.push_back(out[i] == '~' ? ' ' : out[i]);
  }
  return spaced;
}

std::string remove_dollars(std::string_view s) {
  std::string out = replace_all(replace_all(s, "\\$", ""), "$", "");
  for (const char* delimiter : {"\\(", "\\)", "\\[", "\\]"}) out = replace_all(out, delimiter, " ");
  return out;
}

std::string single_backslashes(std::string_view s) {
  if (s.find("\\begin") != std::string_view::npos) return std::string(s);
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size() && s[i + 1] == '\\' && is_letter(s[i + 2])) continue;
    out.push_back(s[i]);
  }
  return out;
}

std::string remove_degrees(std::string_view s) {
  std::string out(s);
  for (const char* d : {"^{\\circ}", "^\\circ", "^{\\circ }", "\\degree", "°", "{}^\\circ"}) out = replace_all(out, d, "");
  return replace_command(out, "\\circ", "");
}

bool has_percent(std::string_view s) {
  std::string l = lower(s);
  return l.find('%') != std::string::npos || l.find("percent") != std::string::npos || l.find("pct") != std::string::npos;
}

std::string remove_percent(std::string_view s) {
  std::string out = replace_all(replace_all(s, "\\%", ""), "%", "");
  for (const char* word : {"percentage", "percent", "pct"}) {
    std::size_t at = out.find(word);
    if (at != std::string::npos && at > 0 && (at + std::string_view(word).size() == out.size())) out = trim(out.substr(0, at));
  }
  return out;
}

std::string remove_text_units(std::string_view s) {
  std::string out = trim(s);
  for (const char* cmd : {"\\text{", "\\mbox{", "\\textnormal{", "\\textbf{", "\\mathrm{"}) {
    std::size_t at = out.rfind(cmd);
    if (at == std::string::npos || at == 0) continue;
    std::size_t close = group_end(out, at + std::string_view(cmd).size() - 1);
    if (close == std::string::npos) continue;
    std::string tail = trim(std::string_view(out).substr(close + 1));
    bool power_only = tail.empty() || (tail[0] == '^' && tail.size() <= 4);
    std::string inner = trim(std::string_view(out).substr(at + std::string_view(cmd).size(), close - at - std::string_view(cmd).size()));
    std::string before = trim(std::string_view(out).substr(0, at));
    bool wordy = !inner.empty() && std::all_of(inner.begin(), inner.end(), [](char c) { return is_letter(c) || c == ' ' || c == '.' || c == '^' || is_digit(c); }) && is_letter(inner[0]);
    if (power_only && wordy && !before.empty() && (is_digit(before.back()) || before.back() == '}' || before.back() == ')'))
      return before;
  }
  return out;
}

std::string unwrap_text(std::string_view s) {
  std::string out(s);
  for (const char* cmd : {"\\textnormal{", "\\textbf{", "\\textit{", "\\text{", "\\mbox{", "\\mathrm{", "\\mathbf{", "\\mathit{", "\\mathsf{", "\\operatorname{", "\\boldsymbol{", "\\rm{"}) {
    std::string_view c(cmd);
    for (std::size_t at; (at = out.find(c)) != std::string::npos;) {
      std::size_t close = group_end(out, at + c.size() - 1);
      if (close == std::string::npos) {
        out.erase(at, c.size());
        continue;
      }
      out = out.substr(0, at) + out.substr(at + c.size(), close - at - c.size()) + out.substr(close + 1);
    }
  }
  return out;
}

std::string number_words(std::string_view s) {
  static const char* words[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                                "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
                                "eighteen", "nineteen", "twenty"};
  std::string l = lower(trim(s));
  for (int k = 0; k <= 20; ++k)
    if (l == words[k]) return std::to_string(k);
  return std::string(s);
}

std::string remove_units(std::string_view s) {
  static const char* units[] = {
      "square units", "sq units", "units", "unit", "inches", "inch", "feet", "foot", "ft", "miles", "mile", "mph",
      "meters", "meter", "metres", "metre", "km", "cm", "mm", "seconds", "second", "sec", "minutes", "minute", "min",
      "hours", "hour", "hrs", "days", "day", "weeks", "years", "dollars", "dollar", "cents", "cent", "yuan", "kg",
      "grams", "gram", "pounds", "lbs", "ounces", "liters", "litres", "ml", "degrees", "degree", "sq", "cubic",
      "points", "people", "students", "ways", "s"};
  std::string out = trim(s);
  for (const char* unit : units) {
    std::string_view u(unit);
    std::string body = out;
    // optional power after the unit: cm^2, cm²
    for (const char* p : {"^2", "^3", "^{2}", "^{3}", "²", "³"}) {
      std::string_view ps(p);
      if (body.size() > ps.size() && body.compare(body.size() - ps.size(), ps.size(), ps) == 0) {
        body.resize(body.size() - ps.size());
        break;
      }
    }
    if (body.size() <= u.size() || body.compare(body.size() - u.size(), u.size(), u) != 0) continue;
    std::string before = body.substr(0, body.size() - u.size());
    if (is_letter(before.back()) || before.back() == '\\') continue;
    std::string value = trim(before);
    if (!value.empty() && (is_digit(value.back()) || value.back() == '}')) return value;
  }
  return out;
}

std::string add_frac_braces(std::string_view s) {
  // \frac12 -> \frac{1}{2}; \frac1{72} -> \frac{1}{72}; \frac{3}4 -> \frac{3}{4}
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 5, "\\frac") != 0 || (i + 5 < s.size() && is_letter(s[i + 5]))) {
      out.push_back(s[i++]);
      continue;
    }
    out += "\\frac";
    i += 5;
    for (int arg = 0; arg < 2; ++arg) {
      while (i < s.size() && s[i] == ' ') ++i;
      if (i >= s.size()) break;
      if (s[i] == '{') {
        std::size_t close = group_end(s, i);
        if (close == std::string_view::npos) break;
        out.append(s.substr(i, close - i + 1));
        i = close + 1;
      } else if (s[i] == '\\') {  // \frac\pi2
        std::size_t j = i + 1;
        while (j < s.size() && is_letter(s[j])) ++j;
        out += "{" + std::string(s.substr(i, j - i)) + "}";
        i = j;
      } else {
        out += "{";
        out.push_back(s[i++]);
        out += "}";
      }
    }
  }
  return out;
}

std::string add_sqrt_braces(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 5, "\\sqrt") != 0 || (i + 5 < s.size() && is_letter(s[i + 5]))) {
      out.push_back(s[i++]);
      continue;
    }
    out += "\\sqrt";
    i += 5;
    std::size_t j = i;
    while (j < s.size() && s[j] == ' ') ++j;
    if (j < s.size() && s[j] != '{' && s[j] != '[' && s[j] != '\\' && !is_space(s[j])) {
      out += "{";  // \sqrt3 is \sqrt{3}: as in the MATH convention, one character
      out.push_back(s[j]);
      out += "}";
      i = j + 1;
    } else {
      i = j;
    }
  }
  return out;
}

std::string slash_to_frac(std::string_view s) {
  std::size_t slash = s.find('/');
  if (slash == std::string_view::npos || s.find('/', slash + 1) != std::string_view::npos) return std::string(s);
  std::string a = trim(s.substr(0, slash)), b = trim(s.substr(slash + 1));
  if (!is_integer_text(a) || !is_integer_text(b) || b[0] == '-') return std::string(s);
  if (a[0] == '-') return "-\\frac{" + a.substr(1) + "}{" + b + "}";
  return "\\frac{" + a + "}{" + b + "}";
}

std::string fix_leading_dot(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool starts = i == 0 || !(is_digit(s[i - 1]) || is_letter(s[i - 1]) || s[i - 1] == '.' || s[i - 1] == '}');
    if (s[i] == '.' && starts && i + 1 < s.size() && is_digit(s[i + 1])) out += "0";
    out.push_back(s[i]);
  }
  return out;
}

std::string remove_thousands_separators(std::string_view s) {
  std::string t = trim(s);
  for (char sep : {',', ' '}) {
    // -?d{1,3}(SEPddd)+(.d+)?
    std::size_t i = (!t.empty() && t[0] == '-') ? 1 : 0, start = i;
    while (i < t.size() && is_digit(t[i])) ++i;
    if (i == start || i - start > 3) continue;
    int groups = 0;
    while (i + 3 < t.size() && t[i] == sep && is_digit(t[i + 1]) && is_digit(t[i + 2]) && is_digit(t[i + 3])) {
      i += 4;
      ++groups;
      if (i < t.size() && is_digit(t[i])) { groups = -1; break; }
    }
    if (groups <= 0) continue;
    if (i < t.size() && t[i] == '.') {
      ++i;
      while (i < t.size() && is_digit(t[i])) ++i;
    }
    if (i != t.size()) continue;
    std::string out;
    for (char c : t)
      if (c != sep) out.push_back(c);
    return out;
  }
  return std::string(s);
}

std::string strip_trailing_zeros(std::string_view s) {
  std::string t(s);
  if (!is_plain_number(t) || t.find('.') == std::string::npos) return t;
  while (t.back() == '0') t.pop_back();
  if (t.back() == '.') t.pop_back();
  if (t == "-0") t = "0";
  return t;
}

std::string drop_simple_lhs(std::string_view s) {
  std::size_t eq = s.find('=');
  if (eq == std::string_view::npos || s.find('=', eq + 1) != std::string_view::npos) return std::string(s);
  std::string lhs = trim(s.substr(0, eq)), rhs = trim(s.substr(eq + 1));
  if (lhs.empty() || rhs.empty() || !is_letter(lhs[0]) || lhs.size() > 8) return std::string(s);
  if (lhs.size() > 1 && lhs[1] != '_') return std::string(s);
  for (char c : lhs.substr(1))
    if (!(is_digit(c) || is_letter(c) || c == '_' || c == '{' || c == '}')) return std::string(s);
  for (std::size_t i = 0; i < rhs.size(); ++i) {  // letters of command names (\frac) are not variables
    if (rhs[i] == '\\') {
      while (i + 1 < rhs.size() && is_letter(rhs[i + 1])) ++i;
      continue;
    }
    if (is_letter(rhs[i]) || rhs[i] == ',') return std::string(s);
  }
  return rhs;
}

std::string sort_integer_list(std::string_view s) {
  std::vector<std::string> items;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t comma = s.find(',', pos);
    std::string item = trim(s.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    if (!is_integer_text(item) || item.size() > 18) return std::string(s);
    items.push_back(item);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (items.size() < 2) return std::string(s);
  std::sort(items.begin(), items.end(), [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  std::string out;
  for (std::size_t k = 0; k < items.size(); ++k) out += (k ? "," : "") + items[k];
  return out;
}

std::string collapse_spaces(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!is_space(s[i])) {
      out.push_back(s[i]);
      continue;
    }
    // keep one space after a command name followed by a letter: "\pi r" must not become "\pir"
    std::size_t j = i;
    while (j < s.size() && is_space(s[j])) ++j;
    bool words = !out.empty() && j < s.size() && ((is_letter(out.back()) && is_letter(s[j])) || (is_digit(out.back()) && is_digit(s[j])));
    if (words) {  // words and numbers stay apart: "\log_2 8" is not "\log_28"
      out.push_back(' ');
      i = j - 1;
      continue;
    }
    std::size_t k = out.size();
    while (k > 0 && is_letter(out[k - 1])) --k;
    bool after_command = k > 0 && k < out.size() && out[k - 1] == '\\';
    if (after_command && j < s.size() && is_letter(s[j])) out.push_back(' ');
    i = j - 1;
  }
  return out;
}

std::string map_infinity(std::string_view s) {
  std::string out = replace_all(s, "∞", "\\infty");
  out = replace_all(out, "∅", "\\emptyset");
  out = replace_command(out, "\\varnothing", "\\emptyset");
  if (out == "inf" || out == "infinity" || out == "+inf") out = "\\infty";
  if (out == "-inf" || out == "-infinity") out = "-\\infty";
  return out;
}

std::string canonical_matrix(std::string_view s) {
  std::string out(s);
  for (const char* env : {"bmatrix", "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix", "matrix}"}) {
    std::string e(env);
    if (e == "matrix}") {
      out = replace_all(out, "\\begin{matrix}", "\\begin{pmatrix}");
      out = replace_all(out, "\\end{matrix}", "\\end{pmatrix}");
      continue;
    }
    out = replace_all(out, "{" + e + "}", "{pmatrix}");
  }
  // \begin{array}{cc} ... \end{array} -> pmatrix (drop the column spec)
  for (std::size_t at; (at = out.find("\\begin{array}")) != std::string::npos;) {
    std::size_t spec = at + 13;
    std::size_t close = (spec < out.size() && out[spec] == '{') ? group_end(out, spec) : std::string::npos;
    out = out.substr(0, at) + "\\begin{pmatrix}" + (close == std::string::npos ? out.substr(spec) : out.substr(close + 1));
  }
  return replace_all(out, "\\end{array}", "\\end{pmatrix}");
}

std::string normalize_answer(std::string_view s) {
  std::string a = strip_outer_punctuation(single_backslashes(s));
  a = replace_all(a, "\n", " ");
  a = unify_fractions(a);
  a = remove_left_right(a);
  a = join_latex_thousands(a);
  a = remove_spacing(a);
  a = remove_dollars(a);
  a = remove_degrees(a);
  a = remove_percent(a);
  a = remove_text_units(a);
  a = unwrap_text(a);
  a = strip_outer_punctuation(a);
  a = number_words(a);
  a = remove_units(a);
  a = canonical_matrix(a);
  a = add_frac_braces(a);
  a = add_sqrt_braces(a);
  a = map_infinity(trim(a));
  a = slash_to_frac(a);
  a = fix_leading_dot(a);
  a = remove_thousands_separators(a);
  a = collapse_spaces(a);
  a = strip_trailing_zeros(a);
  a = drop_simple_lhs(a);
  a = sort_integer_list(a);
  return a;
}

}  // namespace cotrain
