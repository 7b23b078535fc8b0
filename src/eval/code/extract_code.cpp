#include "cotrain/eval/code/extract_code.h"

#include <vector>

namespace cotrain {
namespace {

bool is_fence(std::string_view line) {
  std::size_t start = line.find_first_not_of(" \t");
  return start != std::string_view::npos && line.substr(start, 3) == "```";
}

}  // namespace

std::string extract_last_code_block(std::string_view response) {
  // Fence lines pair up in order (open, close, open, ...); an odd one out opens a block that
  // runs to the end of the response (generation cut off mid-program).
  std::vector<std::string_view> lines;
  for (std::size_t pos = 0; pos <= response.size();) {
    std::size_t end = response.find('\n', pos);
    if (end == std::string_view::npos) end = response.size();
    lines.push_back(response.substr(pos, end - pos));
    pos = end + 1;
  }
  std::size_t open = 0, close = 0;
  bool inside = false, found = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!is_fence(lines[i])) continue;
    if (inside) {
      close = i;
      found = true;
    } else {
      open = i;
    }
    inside = !inside;
  }
  if (inside) {  // unterminated last block
    close = lines.size();
    found = true;
  }
  if (!found) return "";
  std::string code;
  for (std::size_t i = open + 1; i < close; ++i) {
    code.append(lines[i]);
    code.push_back('\n');
  }
  return code;
}

}  // namespace cotrain
