// Text placed into HTML or SVG: every user string (config values, run names, benchmark keys) goes
// through html_escape, in element content and in quoted attribute values alike.
#pragma once
#include <string>
#include <string_view>

namespace cotrain {

// & < > " ' replaced by their character references; control characters (not allowed in HTML)
// by U+FFFD.
std::string html_escape(std::string_view text);

}  // namespace cotrain
