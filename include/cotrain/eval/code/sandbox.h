// Runs an untrusted Python program in its own process tree, contained with whatever this kernel
// allows (detected once, at construction): pid, network, mount, ipc, uts and user namespaces; a
// new root that holds only the interpreter, the system libraries and the files given to the run
// (read-only) plus a fresh size-limited /work (the only writable place); an unprivileged uid;
// rlimits; a seccomp filter; a scrubbed environment; everything killed at the wall-clock limit.
// See docs/sandbox.md for the threat model and what each layer stops.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cotrain {

struct SandboxLimits {
  double wall_s = 10;                         // then the whole process tree is killed
  int cpu_s = 10;                             // RLIMIT_CPU
  std::uint64_t memory_bytes = 4ull << 30;    // RLIMIT_AS
  int processes = 64;                         // RLIMIT_NPROC (per run: each UidLease is a uid of its own)
  std::uint64_t file_bytes = 64ull << 20;     // RLIMIT_FSIZE and the size of /work
  int open_files = 64;                        // RLIMIT_NOFILE
  std::size_t output_bytes = 4u << 20;        // stdout kept; the rest is read and dropped
};

struct SandboxFeatures {
  bool pid_ns = false, net_ns = false, mount_ns = false, ipc_ns = false, uts_ns = false, user_ns = false;
  bool seccomp = false;
  bool leased_uid = false;  // as root: programs run as a host uid leased for them (UidLease)
  nlohmann::json to_json() const;
  std::string describe() const;  // one line for the summary
};

struct SandboxRun {
  int exit_code = -1;    // the program's exit status, or -1 when killed by a signal
  int signal = 0;        // the signal that ended it
  bool timed_out = false;
  std::string output;    // stdout, at most SandboxLimits::output_bytes
  double seconds = 0;    // wall time
};

// A host uid that no other holder, in this process or in any other cotrain process on the machine,
// has while this lease lives. RLIMIT_NPROC counts every process of a real uid, and the fallback
// kills "every process of the run's uid": two runs sharing a uid (two `cotrain eval`s, or ctest -j2)
// would eat each other's process limit and kill each other's programs. So each uid has a lock file
// in a root-only directory, and a lease is an exclusive flock on it, held until the lease dies.
// Only root drops to another uid; as a normal user the lease is empty (uid() == -1).
class UidLease {
 public:
  static constexpr int kFirst = 61000, kLast = 62999;  // the uids leased, on the host

  UidLease(UidLease&& other) noexcept;
  ~UidLease();
  int uid() const { return uid_; }

 private:
  friend class Sandbox;
  UidLease() = default;
  int uid_ = -1;
  int lock_fd_ = -1;
};

class Sandbox {
 public:
  // python: interpreter name (looked up in PATH) or path. Resolving it runs the interpreter once,
  // outside the sandbox, to learn its real executable and prefix; no untrusted code is involved.
  // namespaces = false skips straight to the last fallback (uid, rlimits, seccomp only): what a
  // host without namespaces gets, so that path can be tested where namespaces work. An interpreter
  // that has not answered within answer_timeout_s is killed (InputError): --python may name
  // anything, including a program that never ends.
  explicit Sandbox(const std::string& python, bool namespaces = true, double answer_timeout_s = 10);
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const SandboxFeatures& features() const { return features_; }
  const std::string& python() const { return python_; }  // the interpreter actually run

  // A uid for this caller's runs: a worker takes one and passes it to each of its runs, so
  // parallel runs never share a process count. Throws RuntimeFailure when all are taken.
  UidLease lease_uid() const;

  struct Plan;  // what one run's child does, prepared before it starts (src/eval/code/sandbox_plan.h)

  // Runs `python -s /judge/<script> args...` with files (name, content) placed read-only in
  // /judge, as uid.uid() (one run at a time per lease). Throws RuntimeFailure when the sandbox
  // itself cannot be set up.
  SandboxRun run(const std::vector<std::pair<std::string, std::string>>& files, const std::string& script,
                 const std::vector<std::string>& args, const SandboxLimits& limits, const UidLease& uid) const;

 private:
  SandboxRun run_once(const Plan& plan, const SandboxLimits& limits) const;
  void probe(bool namespaces);

  std::string python_;                        // the interpreter's sys.executable
  std::vector<std::string> python_dirs_;      // prefix directories outside the system dirs
  std::vector<unsigned char> seccomp_program_;  // exported BPF (struct sock_filter array)
  int namespace_flags_ = 0;
  bool userns_after_drop_ = false;
  SandboxFeatures features_;
};

}  // namespace cotrain
