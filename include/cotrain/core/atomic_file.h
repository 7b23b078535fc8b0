// Outputs that are either complete or absent, written where the user asked and nowhere else
// (docs/robustness.md, "Existing outputs"):
//
// - AtomicFile: a regular file is written under a temporary name beside the target and renamed
//   into place on commit(). A symbolic link is followed: what it points to is replaced, the link
//   stays. A FIFO or character device (/dev/null, /dev/stdout, a shell's >(...)) is written
//   directly, never renamed over. A directory, a block device, a dangling link or a link loop is
//   refused (InputError).
// - AtomicDir: a directory built under a temporary name and renamed into place on commit(). The
//   target must be absent, an empty directory, or an earlier output of the same KIND (each output
//   carries a marker file, kOutputMarker, holding its kind); anything else — a user's directory, a
//   file, another command's output — is refused with an InputError before any work is done.
//
// Destroying an uncommitted one removes its temporary, so an error or Ctrl-C never leaves a
// half-written output. Temporaries are named ".NAME.tmp-HOST.PID.RANDOM"; one whose process is
// gone (killed outright) is removed by the next output made beside it.
#pragma once
#include <filesystem>
#include <fstream>
#include <iosfwd>
#include <memory>
#include <string>

namespace cotrain {

inline constexpr const char* kOutputMarker = ".cotrain-output";

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target, bool binary = false);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  void commit();  // flush, check for write errors, rename over the target

 private:
  std::filesystem::path target_, temp_;  // temp_ empty: written directly (a device or FIFO)
  std::ofstream out_;
  bool committed_ = false;
};

class AtomicDir {
 public:
  // KIND names the command's output ("eval", "token-cache", "model"): only an earlier output of
  // the same kind is ever replaced.
  AtomicDir(std::filesystem::path target, std::string kind);
  ~AtomicDir();
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;

  const std::filesystem::path& path() const { return temp_; }  // write the contents here
  // Copies FILE into the new directory under its own name (e.g. working files kept in the output
  // this one replaces, see prepare_output_dir).
  void carry(const std::filesystem::path& file);
  void commit();  // replace the target (an existing one is removed only after the new one is in place)

 private:
  std::filesystem::path target_, temp_;
  std::string kind_;
  bool committed_ = false;
};

// Throws InputError unless TARGET may receive an AtomicDir output of KIND (see above).
void check_output_dir(const std::filesystem::path& target, const std::string& kind);

// For a resumable command that keeps working files in its output directory across runs (eval
// --model keeps its generations there): the check above, then TARGET is created with KIND's
// marker, so a rerun and the final AtomicDir of KIND (which carries the files over) accept it.
void prepare_output_dir(const std::filesystem::path& target, const std::string& kind);

// Where a command writes its records: the file given with --out (atomically), or stdout for "-".
class OutputSink {
 public:
  explicit OutputSink(const std::string& path_or_dash);
  std::ostream& stream();
  void commit();

 private:
  std::unique_ptr<AtomicFile> file_;
};

}  // namespace cotrain
