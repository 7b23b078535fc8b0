// Outputs that are either complete or absent: written under a temporary name beside the target
// and renamed into place on commit(). Destroying an uncommitted one removes the temporary, so an
// error or Ctrl-C never leaves a half-written file or directory behind.
#pragma once
#include <filesystem>
#include <fstream>
#include <iosfwd>
#include <memory>
#include <string>

namespace cotrain {

class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path target, bool binary = false);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  void commit();  // flush, check for write errors, rename over the target

 private:
  std::filesystem::path target_, temp_;
  std::ofstream out_;
  bool committed_ = false;
};

class AtomicDir {
 public:
  explicit AtomicDir(std::filesystem::path target);
  ~AtomicDir();
  AtomicDir(const AtomicDir&) = delete;
  AtomicDir& operator=(const AtomicDir&) = delete;

  const std::filesystem::path& path() const { return temp_; }  // write the contents here
  void commit();  // replace the target (an existing one is removed only after the new one is in place)

 private:
  std::filesystem::path target_, temp_;
  bool committed_ = false;
};

// Where a command writes its records: the file given with --out (atomically), or stdout.
class OutputSink {
 public:
  explicit OutputSink(const std::string& path_or_empty);
  std::ostream& stream();
  void commit();

 private:
  std::unique_ptr<AtomicFile> file_;
};

}  // namespace cotrain
