#include "cotrain/eval/math/extract.h"

#include "text.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace cotrain {

std::vector<Box> find_boxes(std::string_view text) {
  std::vector<Box> boxes;
  std::size_t pos = 0;
  // The next \boxed and \fbox at or after pos, each searched again only once passed (searching
  // both from every box made a text of many boxes and no \fbox quadratic).
  std::size_t b = text.find("\\boxed"), f = text.find("\\fbox");
  while (pos < text.size()) {
    if (b != std::string_view::npos && b < pos) b = text.find("\\boxed", pos);
    if (f != std::string_view::npos && f < pos) f = text.find("\\fbox", pos);
    std::size_t at = std::min(b, f);
    if (at == std::string_view::npos) break;
    std::size_t i = at + (at == b ? 6 : 5);
    if (i < text.size() && is_letter(text[i])) {  // \boxedx is another command
      pos = i;
      continue;
    }
    while (i < text.size() && text[i] == ' ') ++i;
    if (i < text.size() && text[i] == '{') {
      int depth = 0;
      std::size_t j = i;
      for (; j < text.size(); ++j) {
        if (text[j] == '\\' && j + 1 < text.size()) { ++j; continue; }
        if (text[j] == '{') ++depth;
        if (text[j] == '}' && --depth == 0) break;
      }
      if (j >= text.size()) {  // unbalanced: take the rest, as the references do
        boxes.push_back({at, text.size(), i + 1, text.size(), std::string(text.substr(i + 1)), false});
        break;
      }
      boxes.push_back({at, j + 1, i + 1, j, std::string(text.substr(i + 1, j - i - 1))});
      pos = j + 1;
    } else if (at == b && i > at + 6) {  // "\boxed 5": up to the next space or '$'
      std::size_t j = i;
      while (j < text.size() && text[j] != '$' && text[j] != ' ' && text[j] != '\n') ++j;
      if (j > i) boxes.push_back({at, j, i, j, std::string(text.substr(i, j - i))});
      pos = std::max(j, i + 1);
    } else {
      pos = i;
    }
  }
  return boxes;
}

namespace {

void erase_all(std::string& s, std::string_view what) {
  for (std::size_t p; (p = s.find(what)) != std::string::npos;) s.erase(p, what.size());
}

// Text between two boxes that still means "these are parts of one answer".
bool is_connector(std::string_view between) {
  std::string s(between);
  for (const char* noise : {"\\quad", "\\qquad", "\\text", "\\(", "\\)", "\\[", "\\]", "$", "{", "}", "\\,", "\\;", "\\ "})
    erase_all(s, noise);
  s = trim(s);
  if (s.empty() || s == "," || s == ";") return true;
  if (s.size() > 20) return false;
  std::string l = lower(s);
  for (std::size_t p = 0; (p = l.find("and", p)) != std::string::npos; p += 3) {
    bool left = p == 0 || !is_letter(l[p - 1]), right = p + 3 >= l.size() || !is_letter(l[p + 3]);
    if (left && right) return true;
  }
  return false;
}

bool is_number_char(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

// The last number in the text ("1,000.5" with thousands separators, "-3", ".5").
std::string last_number(std::string_view text, std::size_t* end = nullptr) {
  std::string best;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_number_char(text[i]) && !(text[i] == '.' && i + 1 < text.size() && is_number_char(text[i + 1]))) {
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < text.size() && is_number_char(text[i])) ++i;
    // thousands groups: ",ddd" not followed by another digit
    while (i + 3 < text.size() && text[i] == ',' && is_number_char(text[i + 1]) && is_number_char(text[i + 2]) &&
           is_number_char(text[i + 3]) && (i + 4 >= text.size() || !is_number_char(text[i + 4])))
      i += 4;
    if (i + 1 < text.size() && text[i] == '.' && is_number_char(text[i + 1])) {
      ++i;
      while (i < text.size() && is_number_char(text[i])) ++i;
    }
    if (i + 1 < text.size() && text[i] == '/' && is_number_char(text[i + 1])) {  // 2/3
      ++i;
      while (i < text.size() && is_number_char(text[i])) ++i;
    }
    bool neg = start > 0 && text[start - 1] == '-';
    best = (neg ? "-" : "") + std::string(text.substr(start, i - start));
    if (end) *end = i;
  }
  return best;
}

struct Span {
  std::size_t start, end;
  std::string content;
};

// $...$, $$...$$, \(...\), \[...\] spans in order. Inline spans ($, \() do not cross lines.
std::vector<Span> math_spans(std::string_view text) {
  std::vector<Span> spans;
  std::size_t i = 0;
  while (i < text.size()) {
    std::string_view open, close;
    if (text.compare(i, 2, "$$") == 0) open = close = "$$";
    else if (text[i] == '$' && (i == 0 || text[i - 1] != '\\')) open = close = "$";
    else if (text.compare(i, 2, "\\(") == 0) open = "\\(", close = "\\)";
    else if (text.compare(i, 2, "\\[") == 0) open = "\\[", close = "\\]";
    if (open.empty()) { ++i; continue; }
    std::size_t from = i + open.size(), j = from;
    while (true) {
      j = text.find(close, j);
      if (j == std::string_view::npos) break;
      if (close == "$" && j > 0 && text[j - 1] == '\\') { ++j; continue; }
      break;
    }
    if (j == std::string_view::npos) { i = from; continue; }
    bool inline_math = open == "$" || open == "\\(";
    if (inline_math && text.substr(from, j - from).find('\n') != std::string_view::npos) { i = from; continue; }
    spans.push_back({i, j + close.size(), std::string(text.substr(from, j - from))});
    i = j + close.size();
  }
  return spans;
}

// Words of two or more letters outside LaTeX commands and \text{...}: prose, not an answer.
int prose_words(std::string_view text) {
  int words = 0;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '\\') {
      std::size_t j = i + 1;
      while (j < text.size() && is_letter(text[j])) ++j;
      std::string_view cmd = text.substr(i + 1, j - i - 1);
      bool skips_argument = cmd == "text" || cmd == "textbf" || cmd == "mbox" || cmd == "mathrm" || cmd == "begin" ||
                            cmd == "end" || cmd == "operatorname" || cmd == "mathbf";
      if (skips_argument && j < text.size() && text[j] == '{') {
        std::size_t close = text.find('}', j);
        j = close == std::string_view::npos ? text.size() : close + 1;
      }
      i = std::max(j, i + 1);
      continue;
    }
    if (!is_letter(text[i])) { ++i; continue; }
    std::size_t j = i;
    while (j < text.size() && is_letter(text[j])) ++j;
    std::string_view raw = text.substr(i, j - i);
    std::string w = lower(raw);
    bool math_name = w.size() == 2 && w != raw;  // "AB", "NO": names of points and segments
    if (w.size() >= 2 && !math_name && w != "and" && w != "or" && w != "percent" && w != "pct" && w != "percentage") ++words;
    i = j;
  }
  return words;
}

bool looks_like_answer(std::string_view text) {
  return text.size() <= 300 && text.find('\n') == std::string_view::npos && prose_words(text) <= 1;
}

// What follows a phrase such as "the answer is": up to the end of the line, minus a trailing
// sentence ("I hope it is correct").
std::string answer_after(std::string_view text, std::size_t from) {
  std::size_t end = text.find('\n', from);
  std::string rest = trim(text.substr(from, end == std::string_view::npos ? std::string_view::npos : end - from));
  if (!rest.empty() && rest[0] == ':') rest = trim(std::string_view(rest).substr(1));
  auto spans = math_spans(rest);
  if (!spans.empty() && spans[0].start == 0) return trim(spans[0].content);
  std::size_t hope = lower(rest).find(". i hope");
  if (hope != std::string::npos) rest = rest.substr(0, hope);
  if (looks_like_answer(rest)) return rest;
  std::string number = last_number(rest);
  if (!number.empty()) return number;
  return spans.empty() ? std::string() : trim(spans.back().content);
}

}  // namespace

std::string_view answer_section(std::string_view response) {
  const std::string_view begin = "<|begin_of_solution|>", end = "<|end_of_solution|>";
  std::size_t b = response.rfind(begin);
  if (b != std::string_view::npos) {
    std::string_view rest = response.substr(b + begin.size());
    std::size_t e = rest.find(end);
    return e == std::string_view::npos ? rest : rest.substr(0, e);
  }
  std::size_t t = response.rfind("</think>");
  if (t != std::string_view::npos) return response.substr(t + 8);
  return response;
}

std::optional<std::string> last_boxed(std::string_view text) {
  auto boxes = find_boxes(text);
  if (boxes.empty()) return std::nullopt;
  return boxes.back().content;
}

std::optional<std::string> boxed_answer(std::string_view text) {
  auto boxes = find_boxes(text);
  if (boxes.empty()) return std::nullopt;
  std::size_t first = boxes.size() - 1;
  while (first > 0 && is_connector(text.substr(boxes[first - 1].end, boxes[first].start - boxes[first - 1].end))) --first;
  std::string joined;
  for (std::size_t k = first; k < boxes.size(); ++k) joined += (k > first ? ", " : "") + boxes[k].content;
  return joined;
}

Extraction extract_answer(std::string_view response, const ExtractOptions& options) {
  std::string_view text = answer_section(response);
  // A model that runs on past its turn: what follows the next turn marker is not its answer.
  for (std::string_view marker : {"<|im_start|>", "<|im_end|>", "<|endoftext|>"}) {
    std::size_t at = text.find(marker);
    if (at != std::string_view::npos) text = text.substr(0, at);
  }
  std::string low = lower(text);
  std::size_t minerva = low.rfind("final answer is $");
  std::string minerva_answer;
  if (minerva != std::string::npos) {
    std::size_t from = minerva + 17, end = low.find("$. i hope", from);
    if (end != std::string::npos) minerva_answer = trim(text.substr(from, end - from));
  }
  auto boxes = find_boxes(text);
  if (!boxes.empty() && !(options.strict == false && !minerva_answer.empty() && minerva > boxes.back().end))
    return {trim(*boxed_answer(text)), "boxed"};
  if (options.strict) return {"", "none"};
  if (!minerva_answer.empty()) return {minerva_answer, "minerva"};
  // The last answer sentence in the text ("answer is" also covers "the/final answer is").
  std::size_t best = std::string::npos, best_end = 0;
  for (std::string_view phrase : {"answer is", "answer:"}) {
    std::size_t at = low.rfind(phrase);
    if (at != std::string::npos && (best == std::string::npos || at > best)) {
      best = at;
      best_end = at + phrase.size();
    }
  }
  if (best != std::string::npos) {
    std::string answer = answer_after(text, best_end);
    if (!answer.empty()) return {answer, "answer_is"};
  }
  std::string whole = trim(text);
  if (low.rfind("answer", 0) == 0 && whole.size() > 6 && !is_letter(whole[6])) whole = trim(std::string_view(whole).substr(6));
  if (!whole.empty() && looks_like_answer(whole)) return {whole, "whole"};
  // The last math span or the last number, whichever comes later.
  std::size_t number_end = 0;
  std::string number = last_number(text, &number_end);
  if (!options.last_number) number.clear();
  auto spans = math_spans(text);
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
    if (!number.empty() && number_end > it->end) break;
    if (!trim(it->content).empty() && prose_words(it->content) <= 1) return {trim(it->content), "math_span"};
  }
  if (!number.empty()) return {number, "last_number"};
  return {"", "none"};
}

}  // namespace cotrain
