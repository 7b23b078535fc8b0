// Leasing host uids for sandboxed programs (see UidLease in sandbox.h for why), and finding and
// waiting out the processes of a uid.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "cotrain/core/error.h"
#include "sandbox_plan.h"

namespace fs = std::filesystem;

namespace cotrain {
namespace {

// The lock files live in a directory only we (root) can write, so no other user can plant, swap or
// hold one. Lock files are never removed: a process may have one open, and a new file of the same
// name would be a second, independent lock.
std::string lock_dir() {
  std::string dir = fs::is_directory("/run") ? "/run/cotrain-sandbox" : "/tmp/cotrain-sandbox-uids";
  mkdir(dir.c_str(), 0700);
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
    fail_runtime("{}: must be a directory of uid {} that nobody else can write; refusing to keep the sandbox's "
                 "uid locks there",
                 dir, geteuid());
  return dir;
}

}  // namespace

bool uid_has_processes(int uid) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("Uid:", 0) == 0) {
        if (std::atoi(line.c_str() + 4) == uid) return true;
        break;
      }
  }
  return false;
}

void wait_until_uid_gone(int uid, double seconds) {
  for (auto start = std::chrono::steady_clock::now();
       uid_has_processes(uid) &&
       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds;)
    usleep(5000);
}

UidLease::UidLease(UidLease&& other) noexcept
    : uid_(std::exchange(other.uid_, -1)), lock_fd_(std::exchange(other.lock_fd_, -1)) {}

UidLease::~UidLease() {
  if (lock_fd_ >= 0) close(lock_fd_);
}

// The first uid whose lock is free. flock locks belong to an open file description, so the lock is
// exclusive between leases of one process as well as between processes.
UidLease Sandbox::lease_uid() const {
  UidLease lease;
  if (geteuid() != 0) return lease;
  std::string dir = lock_dir();
  for (int uid = UidLease::kFirst; uid <= UidLease::kLast; ++uid) {
    std::string path = dir + "/" + std::to_string(uid);
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) fail_runtime("{}: cannot open ({})", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      close(fd);
      if (err == EWOULDBLOCK) continue;
      fail_runtime("{}: cannot lock ({})", path, strerror(err));
    }
    lease.uid_ = uid;
    lease.lock_fd_ = fd;
    // Nobody else may use this uid now, so whatever still runs as it is left over (a cotrain
    // killed mid-run without a pid namespace): kill it before it eats this lease's process count.
    if (uid_has_processes(uid)) {
      sweep_uid(uid);
      wait_until_uid_gone(uid, 2.0);
    }
    return lease;
  }
  fail_runtime("no free sandbox uid: all of {}..{} are leased (locks in {})", UidLease::kFirst, UidLease::kLast,
               dir);
}

}  // namespace cotrain
