#include "cotrain/io/safetensors.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "common/shared_data.h"
#include "cotrain/core/error.h"
#include "cotrain/io/checkpoint.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;

void write_raw(const fs::path& path, const std::string& header, const std::string& buffer, std::int64_t claimed_len = -1) {
  std::ofstream out(path, std::ios::binary);
  std::uint64_t len = claimed_len < 0 ? header.size() : static_cast<std::uint64_t>(claimed_len);
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header << buffer;
}

// The message of the InputError that opening PATH throws ("" when it opens).
std::string open_error(const fs::path& path) {
  try {
    SafetensorsFile::open(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, RoundTripKeepsBytesShapesAndAlignment) {
  auto dir = test::scratch_dir();
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::vector<std::uint16_t> b = {0x3f80, 0x4000, 0xbf80};
  std::vector<std::int64_t> c = {42};
  write_safetensors(dir / "x.safetensors", {{"a", DType::F32, {2, 3}, a.data(), a.size() * 4},
                                            {"b.weight", DType::BF16, {3}, b.data(), b.size() * 2},
                                            {"scalar", DType::I64, {}, c.data(), 8}});
  auto file = SafetensorsFile::open(dir / "x.safetensors");
  ASSERT_EQ(file->header().tensors.size(), 3u);
  EXPECT_EQ(file->header().metadata.at("format"), "pt");
  const auto* ta = file->find("a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(file->data(*ta), a.data(), 24), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(file->data(*ta)) % 8, 0u);
  const auto* tb = file->find("b.weight");
  EXPECT_EQ(tb->dtype, DType::BF16);
  EXPECT_EQ(std::memcmp(file->data(*tb), b.data(), 6), 0);
  EXPECT_EQ(file->find("scalar")->numel(), 1);
  EXPECT_EQ(file->find("missing"), nullptr);
}

TEST(Safetensors, WriterRefusesWrongByteCount) {
  auto dir = test::scratch_dir();
  float x = 1;
  EXPECT_THROW(write_safetensors(dir / "bad.safetensors", {{"x", DType::F32, {2}, &x, 4}}), InputError);
  EXPECT_FALSE(fs::exists(dir / "bad.safetensors"));
}

// A tensor at a time, as a checkpoint writes its gathered groups: the file reads back as one
// written whole, and is absent until commit() and after any misuse.
TEST(Safetensors, StreamingWriterWritesTensorsAsTheyComeAndPublishesOnlyWhole) {
  auto dir = test::scratch_dir();
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f};
  std::vector<std::uint16_t> b = {0x3f80, 0x4000, 0xbf80};
  {
    SafetensorsWriter out(dir / "s.safetensors", {{"z", DType::F32, {2, 2}}, {"a", DType::BF16, {3}}});
    out.write("z", a.data(), 16);
    EXPECT_FALSE(fs::exists(dir / "s.safetensors"));
    out.write("a", b.data(), 6);
    out.commit();
  }
  auto file = SafetensorsFile::open(dir / "s.safetensors");
  ASSERT_EQ(file->header().tensors.size(), 2u);
  EXPECT_EQ(file->header().tensors[0].name, "z");  // the given order, not sorted
  EXPECT_EQ(std::memcmp(file->data(*file->find("z")), a.data(), 16), 0);
  EXPECT_EQ(std::memcmp(file->data(*file->find("a")), b.data(), 6), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(file->data(*file->find("z"))) % 8, 0u);

  auto error = [&](const std::function<void(SafetensorsWriter&)>& misuse) {
    std::string message;
    try {
      SafetensorsWriter out(dir / "bad.safetensors", {{"z", DType::F32, {2, 2}}, {"a", DType::BF16, {3}}});
      misuse(out);
    } catch (const InputError& e) {
      message = e.what();
    }
    EXPECT_FALSE(fs::exists(dir / "bad.safetensors")) << message;
    return message;
  };
  EXPECT_NE(error([&](SafetensorsWriter& out) { out.write("a", b.data(), 6); }).find("tensor 'a' given where the header has 'z' next"),
            std::string::npos);
  EXPECT_NE(error([&](SafetensorsWriter& out) { out.write("z", a.data(), 12); }).find("tensor 'z': 12 bytes given, shape needs 16"),
            std::string::npos);
  EXPECT_NE(error([&](SafetensorsWriter& out) {
              out.write("z", a.data(), 16);
              out.commit();
            }).find("tensor 'a' was never written"),
            std::string::npos);
  EXPECT_NE(error([&](SafetensorsWriter& out) {
              out.write("z", a.data(), 16);
              out.write("a", b.data(), 6);
              out.write("c", b.data(), 2);
            }).find("tensor 'c' is not in the header"),
            std::string::npos);
  EXPECT_NE(error([&](SafetensorsWriter&) { SafetensorsWriter twice(dir / "bad.safetensors", {{"z", DType::F32, {1}}, {"z", DType::F32, {1}}}); })
                .find("tensor 'z' written twice"),
            std::string::npos);
}

struct CorruptCase {
  const char* name;
  std::string header;
  std::string buffer;
  std::int64_t claimed_len;
  const char* message;  // a fragment the one-line error must contain
};

TEST(Safetensors, CorruptFilesGiveOneLineErrorsNamingFileAndTensor) {
  auto dir = test::scratch_dir();
  const std::string eight(8, 'x');
  const std::vector<CorruptCase> cases = {
      {"truncated_data", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight, -1, "file truncated"},
      {"header_longer_than_file", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight, 5000, "longer than the file"},
      {"huge_header_length", "{}", "", 200'000'000, "exceeds the 100 MB limit"},
      {"overlapping_offsets", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight, -1, "'b'"},
      {"gap_between_tensors", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})", eight, -1, "leave a gap"},
      {"bad_json", R"({"w":{"dtype":"F32",)", eight, -1, "bad safetensors header JSON"},
      {"not_an_object", "[1,2]", "", -1, "not a JSON object"},
      {"huge_shape", R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", eight, -1, "shape overflows"},
      {"negative_shape", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight, -1, "'w': shape entry -2"},
      {"bytes_vs_shape", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight, -1, "need 12"},
      {"unknown_dtype", R"({"w":{"dtype":"F4","shape":[2],"data_offsets":[0,8]}})", eight, -1, "unsupported dtype 'F4'"},
      {"duplicate_names", R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"w":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", eight, -1, "duplicate tensor names"},
      {"missing_offsets", R"({"w":{"dtype":"U8","shape":[8]}})", eight, -1, "needs dtype, shape and data_offsets"},
      {"end_before_begin", R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", eight, -1, "end before begin"},
      {"bad_metadata", R"({"__metadata__":{"k":1}})", "", -1, "__metadata__ value"},
  };
  for (const auto& c : cases) {
    auto path = dir / (std::string(c.name) + ".safetensors");
    write_raw(path, c.header, c.buffer, c.claimed_len);
    std::string msg = open_error(path);
    EXPECT_NE(msg.find(path.string()), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.message), std::string::npos) << c.name << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << c.name;
  }
  std::ofstream(dir / "tiny.safetensors") << "abc";
  EXPECT_NE(open_error(dir / "tiny.safetensors").find("too short"), std::string::npos);
  EXPECT_NE(open_error(dir / "absent.safetensors").find("absent.safetensors: no such file"), std::string::npos);
  // A FIFO blocked open() forever; a directory is refused too.
  ASSERT_EQ(mkfifo((dir / "fifo.safetensors").c_str(), 0600), 0);
  EXPECT_NE(open_error(dir / "fifo.safetensors").find("fifo.safetensors: is a FIFO"), std::string::npos);
  EXPECT_NE(open_error(dir).find("is a directory"), std::string::npos);
}

// A header nested 60k deep crashed (stack overflow); nesting is bounded before parsing.
TEST(Safetensors, DeeplyNestedHeaderIsAnInputError) {
  std::string header = R"({"__metadata__":{"x":)" + std::string(60000, '[') + std::string(60000, ']') + "}}";
  try {
    parse_safetensors_header(header, 0, "deep.safetensors");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("deep.safetensors: JSON nested deeper than 128 levels"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, ReadsShardsThroughIndexAndChecksIt) {
  auto dir = test::scratch_dir();
  float x[2] = {1, 2}, y[3] = {3, 4, 5};
  std::uint16_t z[4] = {0, 0, 0, 0};
  write_safetensors(dir / "model-00001-of-00002.safetensors", {{"x", DType::F32, {2}, x, 8}, {"z", DType::BF16, {2, 2}, z, 8}});
  write_safetensors(dir / "model-00002-of-00002.safetensors", {{"y", DType::F32, {3}, y, 12}});
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata":{"total_size":28},"weight_map":{"x":"model-00001-of-00002.safetensors",)"
      << R"("y":"model-00002-of-00002.safetensors","z":"model-00001-of-00002.safetensors"}})";
  CheckpointFiles ckpt(dir);
  EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"x", "y", "z"}));
  auto stats = ckpt.stats();
  EXPECT_EQ(stats.tensors, 3);
  EXPECT_EQ(stats.parameters, 9);
  EXPECT_EQ(stats.bytes, 28u);
  EXPECT_EQ(stats.tensors_by_dtype, (std::map<std::string, std::int64_t>{{"BF16", 1}, {"F32", 2}}));
  EXPECT_EQ(std::memcmp(ckpt.find("y")->file->data(*ckpt.find("y")->info), y, 12), 0);

  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"weight_map":{"x":"model-00002-of-00002.safetensors","y":"model-00002-of-00002.safetensors","z":"model-00001-of-00002.safetensors"}})";
  try {
    CheckpointFiles bad(dir);
    FAIL() << "expected an error for a tensor in the wrong shard";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(CheckpointFiles(dir / "nowhere"), InputError);
}

}  // namespace
}  // namespace cotrain
