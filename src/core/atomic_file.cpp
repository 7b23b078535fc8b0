#include "cotrain/core/atomic_file.h"

#include <unistd.h>

#include <iostream>
#include <random>

#include "cotrain/core/error.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

fs::path temp_name_for(const fs::path& target) {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  fs::path name = target.filename();
  return target.parent_path() / fmt::format(".{}.tmp-{:08x}", name.string(), rng() & 0xffffffffu);
}

void ensure_parent(const fs::path& target) {
  std::error_code ec;
  fs::path parent = target.parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) fail_input("cannot create directory {}: {}", parent.string(), ec.message());
}

}  // namespace

AtomicFile::AtomicFile(fs::path target, bool binary) : target_(std::move(target)) {
  ensure_parent(target_);
  temp_ = temp_name_for(target_);
  out_.open(temp_, binary ? std::ios::binary | std::ios::trunc : std::ios::trunc);
  if (!out_) fail_input("cannot write {}", target_.string());
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  out_.close();
  std::error_code ec;
  fs::remove(temp_, ec);
}

void AtomicFile::commit() {
  out_.flush();
  if (!out_) fail_runtime("write error on {}", target_.string());
  out_.close();
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) fail_runtime("cannot rename {} to {}: {}", temp_.string(), target_.string(), ec.message());
  committed_ = true;
}

AtomicDir::AtomicDir(fs::path target) : target_(std::move(target)) {
  if (target_.filename().empty()) target_ = target_.parent_path();  // "out/" -> "out"
  ensure_parent(target_);
  temp_ = temp_name_for(target_);
  std::error_code ec;
  fs::create_directory(temp_, ec);
  if (ec) fail_input("cannot create {}: {}", temp_.string(), ec.message());
}

AtomicDir::~AtomicDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(temp_, ec);
}

void AtomicDir::commit() {
  std::error_code ec;
  fs::path old;
  if (fs::exists(target_)) {
    old = temp_name_for(target_);
    fs::rename(target_, old, ec);
    if (ec) fail_runtime("cannot move aside {}: {}", target_.string(), ec.message());
  }
  fs::rename(temp_, target_, ec);
  if (ec) fail_runtime("cannot rename {} to {}: {}", temp_.string(), target_.string(), ec.message());
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

OutputSink::OutputSink(const std::string& path_or_empty) {
  if (!path_or_empty.empty() && path_or_empty != "-") file_ = std::make_unique<AtomicFile>(path_or_empty);
}

std::ostream& OutputSink::stream() { return file_ ? file_->stream() : std::cout; }

void OutputSink::commit() {
  if (file_) {
    file_->commit();
  } else {
    std::cout.flush();
  }
}

}  // namespace cotrain
