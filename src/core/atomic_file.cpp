#include "cotrain/core/atomic_file.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <random>

#include "cotrain/core/error.h"
#include "cotrain/core/input_file.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || !name[0]) return "host";
  std::string host(name);
  for (char& c : host)
    if (c == '/' || c == '.') c = '_';  // '.' separates the fields of a temporary's name
  return host;
}

// ".NAME.tmp-": what every temporary made for NAME starts with.
std::string temp_prefix(const fs::path& target) { return fmt::format(".{}.tmp-", target.filename().string()); }

fs::path temp_name_for(const fs::path& target) {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  static const std::string host = host_name();
  return target.parent_path() / fmt::format("{}{}.{}.{:08x}", temp_prefix(target), host, getpid(), rng() & 0xffffffffu);
}

// Removes temporaries for TARGET left by processes of this host that no longer exist (killed
// before they could clean up). A process that still runs keeps its temporaries.
void reclaim_stale_temporaries(const fs::path& target) {
  static const std::string host = host_name();
  const std::string prefix = temp_prefix(target);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    std::string rest = name.substr(prefix.size());  // HOST.PID.RANDOM
    auto last = rest.rfind('.');
    if (last == std::string::npos || last == 0) continue;
    auto mid = rest.rfind('.', last - 1);
    if (mid == std::string::npos || rest.substr(0, mid) != host) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(rest.substr(mid + 1, last - mid - 1)));
    } catch (const std::exception&) {
      continue;
    }
    if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code ignored;
    fs::remove_all(it->path(), ignored);
  }
}

void check_not_empty(const fs::path& target) {
  if (target.empty()) fail_input("output path is empty");
}

void ensure_parent(const fs::path& target) {
  std::error_code ec;
  fs::path parent = target.parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) fail_input("{}: cannot create directory ({})", parent.string(), ec.message());
}

void write_marker(const fs::path& dir, const std::string& kind) {
  std::ofstream marker(dir / kOutputMarker, std::ios::binary | std::ios::trunc);
  marker << kind << '\n';
  marker.close();
  if (!marker) fail_runtime("{}: write error", (dir / kOutputMarker).string());
}

bool is_link(const fs::path& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

}  // namespace

AtomicFile::AtomicFile(fs::path target, bool binary) : target_(std::move(target)) {
  check_not_empty(target_);
  const auto mode = binary ? std::ios::binary | std::ios::trunc : std::ios::trunc;
  struct stat st {};
  if (::stat(target_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) fail_input("{}: is a directory, expected a file to write", target_.string());
    if (S_ISBLK(st.st_mode)) fail_input("{}: is a block device; refusing to write to it", target_.string());
    if (!S_ISREG(st.st_mode)) {  // a FIFO, a character device: write to it, never rename over it
      out_.open(target_, mode);
      if (!out_) fail_input("{}: cannot write ({})", target_.string(), std::strerror(errno));
      return;
    }
    if (is_link(target_)) target_ = fs::canonical(target_);  // replace what the link points to
  } else if (errno == ELOOP) {
    fail_input("{}: symbolic link loop", target_.string());
  } else if (is_link(target_)) {
    fail_input("{}: dangling symbolic link", target_.string());
  }
  ensure_parent(target_);
  reclaim_stale_temporaries(target_);
  temp_ = temp_name_for(target_);
  out_.open(temp_, mode);
  if (!out_) fail_input("{}: cannot write ({})", target_.string(), std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (committed_ || temp_.empty()) return;
  out_.close();
  std::error_code ec;
  fs::remove(temp_, ec);
}

void AtomicFile::commit() {
  out_.flush();
  if (!out_) fail_runtime("{}: write error", target_.string());
  out_.close();
  if (!out_) fail_runtime("{}: write error", target_.string());
  if (!temp_.empty()) {
    std::error_code ec;
    fs::rename(temp_, target_, ec);
    if (ec) fail_runtime("{}: cannot rename {} into place ({})", target_.string(), temp_.string(), ec.message());
  }
  committed_ = true;
}

void check_output_dir(const fs::path& target, const std::string& kind) {
  check_not_empty(target);
  struct stat st {};
  if (lstat(target.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail_input("{}: cannot use as an output directory ({})", target.string(), std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) fail_input("{}: is a symbolic link; give the directory itself as the output", target.string());
  if (!S_ISDIR(st.st_mode)) fail_input("{}: exists and is not a directory; choose another output directory", target.string());
  std::error_code ec;
  if (fs::is_empty(target, ec) && !ec) return;
  std::string found;
  try {  // through the input rule: a marker that is a FIFO must not block
    found = read_input_file(target / kOutputMarker, 256);
    if (!found.empty() && found.back() == '\n') found.pop_back();
  } catch (const InputError&) {
  }
  if (found == kind) return;
  if (!found.empty()) {
    fail_input("{}: holds another command's output ({}), not a {} output; choose another output directory",
               target.string(), found, kind);
  }
  fail_input("{}: exists and is not empty (and not an earlier {} output); choose another output directory",
             target.string(), kind);
}

AtomicDir::AtomicDir(fs::path target, std::string kind) : target_(std::move(target)), kind_(std::move(kind)) {
  if (target_.filename().empty()) target_ = target_.parent_path();  // "out/" -> "out"
  check_output_dir(target_, kind_);
  ensure_parent(target_);
  reclaim_stale_temporaries(target_);
  temp_ = temp_name_for(target_);
  std::error_code ec;
  fs::create_directory(temp_, ec);
  if (ec) fail_input("{}: cannot create ({})", temp_.string(), ec.message());
}

AtomicDir::~AtomicDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(temp_, ec);
}

void AtomicDir::carry(const fs::path& file) {
  std::error_code ec;
  fs::copy_file(file, temp_ / file.filename(), fs::copy_options::overwrite_existing, ec);
  if (ec) fail_runtime("{}: cannot copy into {} ({})", file.string(), target_.string(), ec.message());
}

void AtomicDir::commit() {
  write_marker(temp_, kind_);
  check_output_dir(target_, kind_);  // still ours: nothing was put there meanwhile
  std::error_code ec;
  fs::path old;
  if (fs::exists(target_)) {
    old = temp_name_for(target_);
    fs::rename(target_, old, ec);
    if (ec) fail_runtime("{}: cannot move the earlier output aside ({})", target_.string(), ec.message());
  }
  fs::rename(temp_, target_, ec);
  if (ec) fail_runtime("{}: cannot rename {} into place ({})", target_.string(), temp_.string(), ec.message());
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

void prepare_output_dir(const fs::path& target, const std::string& kind) {
  check_output_dir(target, kind);
  std::error_code ec;
  fs::create_directories(target, ec);
  if (ec) fail_input("{}: cannot create directory ({})", target.string(), ec.message());
  if (!fs::exists(target / kOutputMarker)) write_marker(target, kind);
}

OutputSink::OutputSink(const std::string& path_or_dash) {
  if (path_or_dash != "-") file_ = std::make_unique<AtomicFile>(path_or_dash);
}

std::ostream& OutputSink::stream() { return file_ ? file_->stream() : std::cout; }

void OutputSink::commit() {
  if (file_) {
    file_->commit();
  } else {
    std::cout.flush();
    if (!std::cout) fail_runtime("write error on standard output");
  }
}

}  // namespace cotrain
