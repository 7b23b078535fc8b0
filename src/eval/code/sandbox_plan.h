// What one sandboxed run's child does and how it talks back: shared by sandbox.cpp (the parent
// side) and sandbox_child.cpp (everything between clone() and execve()).
#pragma once
#include <linux/filter.h>

#include <string>
#include <utility>
#include <vector>

#include "cotrain/eval/code/sandbox.h"

namespace cotrain {

// Everything the child needs, computed before clone(): between clone() and execve() the child of
// this multi-threaded process may only make system calls (no allocation, no locks).
struct Sandbox::Plan {
  struct Bind {
    std::string source, target;
    bool device = false;
  };
  std::string host_dir, root, work, work_options;
  std::vector<std::string> mkdirs, mount_files;
  std::vector<std::pair<std::string, std::string>> symlinks;  // (link text, path)
  std::vector<Bind> binds;
  std::string workdir;  // chdir target as the program sees it
  std::vector<std::string> argv_storage, env_storage;
  std::vector<char*> argv, envp;
  int flags = 0;             // clone namespace flags
  bool drop_uid = false;     // running as root: become `uid` (leased)
  bool userns_after_drop = false;
  bool userns_at_clone = false;
  int uid = -1, outer_uid = 0, outer_gid = 0;
  const SandboxLimits* limits = nullptr;
  sock_fprog seccomp{};
  int stdout_fd = -1, devnull_fd = -1, report_fd = -1;
};

// Messages from the child on the report pipe.
struct Report {
  int kind;   // 1: setup failed at `step` with `err`; 2: the program's wait status in `step`
  int step;
  int err;
};

enum Step { kMountPrivate = 1, kRootTmpfs, kMkdir, kMountFile, kSymlink, kBind, kRemountBind, kWorkTmpfs,
            kRemountRoot, kPivot, kUserMap, kFork, kDropUid, kUserNs, kRlimit, kFds, kChdir, kNoNewPrivs,
            kSeccomp, kExec, kSecurebits };

const char* step_name(int step);

// Kills every process running as uid: a helper takes that uid and signals all it may (kill -1).
// Only for a uid this process holds a UidLease on.
void sweep_uid(int uid);

bool uid_has_processes(int uid);

// Killed orphans are reaped by the system's init, not by us; until then they still count against
// the uid's process limit, so wait for them (at most `seconds`).
void wait_until_uid_gone(int uid, double seconds);

// The clone() entry point; arg is the Plan.
int sandbox_main(void* arg);

// The seccomp program (a struct sock_filter array) every sandboxed program gets.
std::vector<unsigned char> build_seccomp_program();

}  // namespace cotrain
