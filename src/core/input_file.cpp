#include "cotrain/core/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "cotrain/core/error.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

[[noreturn]] void fail_stat(const fs::path& path, int err) {
  if (path.empty()) fail_input("input path is empty");
  if (err == ENOENT || err == ENOTDIR) fail_input("{}: no such file", path.string());
  if (err == ELOOP) fail_input("{}: symbolic link loop", path.string());
  fail_input("{}: cannot open ({})", path.string(), std::strerror(err));
}

void check_mode(const fs::path& path, mode_t mode) {
  if (!S_ISREG(mode)) fail_input("{}: is {}, expected a regular file", path.string(), kind_of(mode));
}

}  // namespace

std::uint64_t check_input_file(const fs::path& path) {
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) fail_stat(path, path.empty() ? ENOENT : errno);
  check_mode(path, st.st_mode);
  return static_cast<std::uint64_t>(st.st_size);
}

int open_input_fd(const fs::path& path, std::uint64_t* size) {
  if (path.empty()) fail_stat(path, ENOENT);
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the mode check below refuses it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail_stat(path, errno);
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail_stat(path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    check_mode(path, st.st_mode);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (size) *size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

std::ifstream open_input_file(const fs::path& path) {
  check_input_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input("{}: cannot open ({})", path.string(), std::strerror(errno));
  return in;
}

std::string read_input_file(const fs::path& path, std::uint64_t max_bytes) {
  std::uint64_t size = 0;
  int fd = open_input_fd(path, &size);
  if (size > max_bytes) {
    ::close(fd);
    fail_input("{}: {} bytes, more than the {} bytes such a file may have", path.string(), size, max_bytes);
  }
  std::string text;
  text.resize(size);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, text.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      fail_runtime("{}: read error ({})", path.string(), std::strerror(err));
    }
    if (n == 0) break;  // the file shrank while being read
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(done);
  return text;
}

}  // namespace cotrain
