// Everything between clone() and execve(): the child of a multi-threaded process, so only system
// calls here (no allocation, no locks, no exceptions). Failures go back on the report pipe.
// Not even glibc's fork() or set*id(): fork() takes the allocator's locks, which another thread of
// cotrain may have held at the clone and which then stay held forever in the child, and set*id()
// signals every thread glibc believes the process has. The raw system calls below touch only the
// calling process.
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "sandbox_plan.h"

namespace cotrain {

const char* step_name(int step) {
  static const char* names[] = {"?", "mount private", "root tmpfs", "mkdir", "mount point", "symlink",
                                "bind mount", "read-only remount", "work tmpfs", "root remount",
                                "pivot_root", "uid map", "fork", "drop uid", "user namespace", "rlimit",
                                "file descriptors", "chdir", "no_new_privs", "seccomp", "execve",
                                "securebits"};
  return step > 0 && step < static_cast<int>(sizeof(names) / sizeof(*names)) ? names[step] : "?";
}

namespace {

pid_t raw_fork() { return static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)); }

bool become_uid(int uid) {
  return syscall(SYS_setgroups, 0, nullptr) == 0 && syscall(SYS_setresgid, uid, uid, uid) == 0 &&
         syscall(SYS_setresuid, uid, uid, uid) == 0;
}

// The clone copied every descriptor cotrain had open, the pipes of runs on other threads included;
// an init that kept them would hold those runs' pipes open until it ended itself.
void close_all_but(int a, int b, int c) {
  int keep[3] = {a, b, c};
  std::sort(std::begin(keep), std::end(keep));  // in place: no allocation
  unsigned next = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(next)) continue;
    if (static_cast<unsigned>(fd) > next) syscall(SYS_close_range, next, static_cast<unsigned>(fd) - 1, 0u);
    next = static_cast<unsigned>(fd) + 1;
  }
  syscall(SYS_close_range, next, ~0u, 0u);
}

[[noreturn]] void child_fail(const Sandbox::Plan& p, int step) {
  Report r{1, step, errno};
  [[maybe_unused]] ssize_t n = write(p.report_fd, &r, sizeof r);
  _exit(127);
}

void write_file(const Sandbox::Plan& p, const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) < 0) child_fail(p, kUserMap);
  close(fd);
}

void setup_filesystem(const Sandbox::Plan& p) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) child_fail(p, kMountPrivate);
  if (mount("tmpfs", p.root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0)
    child_fail(p, kRootTmpfs);
  for (const std::string& dir : p.mkdirs)
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) child_fail(p, kMkdir);
  for (const std::string& file : p.mount_files) {
    int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) child_fail(p, kMountFile);
    close(fd);
  }
  for (const auto& [text, path] : p.symlinks)
    if (symlink(text.c_str(), path.c_str()) != 0) child_fail(p, kSymlink);
  for (const Sandbox::Plan::Bind& b : p.binds) {
    if (mount(b.source.c_str(), b.target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) child_fail(p, kBind);
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | (b.device ? 0 : MS_NODEV);
    if (mount(nullptr, b.target.c_str(), nullptr, flags, nullptr) != 0) child_fail(p, kRemountBind);
  }
  if (mount("tmpfs", p.work.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, p.work_options.c_str()) != 0)
    child_fail(p, kWorkTmpfs);
  if (mount(nullptr, p.root.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
    child_fail(p, kRemountRoot);
  // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the new.
  if (chdir(p.root.c_str()) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0)
    child_fail(p, kPivot);
}

[[noreturn]] void become_program(const Sandbox::Plan& p) {
  if (p.drop_uid && !become_uid(p.uid)) child_fail(p, kDropUid);
  if (p.userns_after_drop && unshare(CLONE_NEWUSER) != 0) child_fail(p, kUserNs);
  if (p.userns_at_clone && prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED) != 0)
    child_fail(p, kSecurebits);  // uid 0 inside must not regain capabilities at execve
  const SandboxLimits& l = *p.limits;
  auto limit = [&](int resource, rlim_t value) {
    rlimit r{value, value};
    if (setrlimit(resource, &r) != 0) child_fail(p, kRlimit);
  };
  limit(RLIMIT_CPU, static_cast<rlim_t>(l.cpu_s));
  limit(RLIMIT_AS, l.memory_bytes);
  limit(RLIMIT_FSIZE, l.file_bytes);
  limit(RLIMIT_NOFILE, static_cast<rlim_t>(l.open_files));
  limit(RLIMIT_CORE, 0);
  if (p.drop_uid || p.userns_at_clone) limit(RLIMIT_NPROC, static_cast<rlim_t>(l.processes));
  if (dup2(p.devnull_fd, 0) < 0 || dup2(p.stdout_fd, 1) < 0 || dup2(p.devnull_fd, 2) < 0) child_fail(p, kFds);
  // Every other descriptor closes at execve; until then the report pipe still works.
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) child_fail(p, kFds);
  if (chdir(p.workdir.c_str()) != 0) child_fail(p, kChdir);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(p, kNoNewPrivs);
  if (p.seccomp.len && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p.seccomp) != 0) child_fail(p, kSeccomp);
  execve(p.argv[0], p.argv.data(), p.envp.data());
  child_fail(p, kExec);
}

}  // namespace

void sweep_uid(int uid) {
  pid_t sweeper = raw_fork();
  if (sweeper == 0) {
    if (become_uid(uid)) kill(-1, SIGKILL);
    _exit(0);
  }
  if (sweeper > 0) waitpid(sweeper, nullptr, 0);
}

// The first process of the run: it forks the program, waits for it and reports its status. With a
// pid namespace it is the namespace's init, and its exit takes every other process of the
// namespace with it. Without one it is a subreaper: the program's orphans come to it, and once
// the program is gone it kills its process group and every process of the run's uid and reaps
// them, so nothing of the run outlives it.
int sandbox_main(void* arg) {
  const Sandbox::Plan& p = *static_cast<const Sandbox::Plan*>(arg);
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // cotrain gone: so is the run
  close_all_but(p.report_fd, p.stdout_fd, p.devnull_fd);
  if (p.userns_at_clone) {
    char map[64];
    write_file(p, "/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %d 1", p.outer_uid);
    write_file(p, "/proc/self/uid_map", map);
    snprintf(map, sizeof map, "0 %d 1", p.outer_gid);
    write_file(p, "/proc/self/gid_map", map);
  }
  if (p.flags & CLONE_NEWNS) setup_filesystem(p);
  if (p.flags & CLONE_NEWUTS) sethostname("sandbox", 7);
  bool pid_ns = p.flags & CLONE_NEWPID;
  if (!pid_ns) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    setpgid(0, 0);
  }
  pid_t child = raw_fork();
  if (child < 0) child_fail(p, kFork);
  if (child == 0) become_program(p);
  close(p.stdout_fd);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!pid_ns) {
    if (p.drop_uid) sweep_uid(p.uid);
    // Reap what is ours; without a uid of its own the run's strays may still live: don't wait.
    int options = p.drop_uid ? 0 : WNOHANG;
    while (waitpid(-1, nullptr, options) > 0 || errno == EINTR) {
    }
  }
  Report r{2, status, 0};
  [[maybe_unused]] ssize_t n = write(p.report_fd, &r, sizeof r);
  _exit(0);
}

}  // namespace cotrain
