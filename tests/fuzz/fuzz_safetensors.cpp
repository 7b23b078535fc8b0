// safetensors files: the 8-byte length, the header JSON and the data offsets, on arbitrary bytes.
// A file that opens must have every tensor inside its buffer (ASan checks each byte read).
#include "cotrain/io/safetensors.h"
#include "fuzz_support.h"

using namespace cotrain;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto path = fuzz::write_file(fuzz::as_text(data, size), "model.safetensors");
  fuzz::expect_only_input_errors([&] {
    auto file = SafetensorsFile::open(path);
    unsigned sum = 0;
    for (const TensorInfo& info : file->header().tensors) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(file->data(info));
      for (std::uint64_t i = 0; i < info.end - info.begin; ++i) sum += bytes[i];
      if (file->find(info.name) != &info) std::abort();
    }
    (void)sum;
  });
  return 0;
}
