// Trace files (JSONL or a JSON array, three record shapes) and the paper's perturbations on
// what they hold. The first byte picks the perturbation and the ratio.
#include "cotrain/data/perturb.h"
#include "fuzz_support.h"

using namespace cotrain;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto path = fuzz::write_file(fuzz::as_text(data + 1, size - 1), "traces.jsonl");
  fuzz::expect_only_input_errors([&] {
    std::vector<TraceRecord> records;
    std::size_t bad = 0;
    for_each_trace(path, TraceFormat::automatic, [&](TraceRecord& r) { records.push_back(std::move(r)); },
                   [&](const BadRecord&) { ++bad; });
    PerturbOptions options;
    options.mode = static_cast<PerturbMode>(data[0] % perturb_mode_names().size());
    options.ratio = (data[0] >> 3) / 31.0;
    options.seed = data[0];
    PerturbReport report = perturb_records(records, options);
    if (report.records != records.size()) std::abort();
    for (const auto& r : records) (void)r.json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  });
  return 0;
}
