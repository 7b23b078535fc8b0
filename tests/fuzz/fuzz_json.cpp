// JSON and JSON Lines input: the one parse entry point (depth, numbers, syntax) and the line
// reader, on arbitrary bytes.
#include "cotrain/core/jsonl.h"
#include "fuzz_support.h"

using namespace cotrain;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  fuzz::expect_only_input_errors([&] {
    nlohmann::json value = parse_json(text, "input");
    (void)value.dump();  // re-serialising is what overflowed the stack on deep nesting
  });
  fuzz::expect_only_input_errors([&] {
    nlohmann::ordered_json value = parse_json<nlohmann::ordered_json>(text, "input");
    (void)value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  });
  auto path = fuzz::write_file(text, "input.jsonl");
  fuzz::expect_only_input_errors([&] {
    std::size_t last = 0;
    for_each_jsonl(path, [&](nlohmann::json& value, std::size_t line) {
      if (line <= last) std::abort();  // line numbers only grow
      last = line;
      (void)value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    });
  });
  return 0;
}
