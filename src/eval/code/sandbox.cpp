// The parent side of a sandboxed run: resolving the interpreter, probing what this kernel allows,
// preparing each run's plan (new root, limits, argv, environment) and watching the run.
#include "cotrain/eval/code/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cotrain/core/error.h"
#include "cotrain/core/signals.h"
#include "sandbox_plan.h"

extern char** environ;

namespace fs = std::filesystem;

namespace cotrain {
namespace {

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  void reset() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A run's files on the host: /tmp/cotrain-sandbox-PID-XXXXXX, removed when the run ends. Those of
// a cotrain that was killed outright are removed by the next one (the pid is gone).
constexpr const char* kHostDirPrefix = "/tmp/cotrain-sandbox-";

void reclaim_host_dirs() {
  std::error_code ec;
  const std::string prefix = fs::path(kHostDirPrefix).filename().string();
  for (fs::directory_iterator it("/tmp", ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    std::string rest = name.substr(prefix.size());
    auto dash = rest.find('-');
    if (dash == std::string::npos) continue;
    pid_t pid = 0;
    auto [ptr, err] = std::from_chars(rest.data(), rest.data() + dash, pid);
    if (err != std::errc() || ptr != rest.data() + dash || pid <= 0 || pid == getpid()) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code ignored;
    fs::remove_all(it->path(), ignored);
  }
}

// Runs `python -c CODE` outside the sandbox (the interpreter itself is trusted) and returns stdout.
// A real interpreter answers in well under a second; one that never answers (a wrapper waiting on
// a terminal) is killed after TIMEOUT_S seconds rather than hang the evaluation.
std::string ask_python(const std::string& python, const std::string& code, double timeout_s) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) fail_runtime("pipe: {}", strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  std::vector<std::string> args = {python, "-s", "-c", code};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, python.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  Fd out(pipe_fds[0]);
  if (rc != 0) fail_input("--python {}: cannot run it ({})", python, strerror(rc));
  std::string text;
  char buf[4096];
  auto start = std::chrono::steady_clock::now();
  bool timed_out = false;
  for (;;) {
    double left = timeout_s - since(start);
    if (left <= 0 || stop_requested()) {
      timed_out = true;
      break;
    }
    pollfd p{out.fd, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(std::min(left, 0.2) * 1000) + 1);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    ssize_t n = read(out.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (text.size() < (1u << 20)) text.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (!timed_out) {  // stdout closed: the process should be ending
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    if (since(start) > timeout_s || stop_requested()) timed_out = true;
    else usleep(10'000);
  }
  if (timed_out) {
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  throw_if_stopped();
  if (timed_out) fail_input("--python {}: the interpreter did not answer within {:.0f} s", python, timeout_s);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_input("--python {}: the interpreter does not work (exit status {})", python, status);
  return text;
}

bool under(const fs::path& path, const fs::path& dir) {
  auto rel = path.lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

// With a pid namespace, killing its init makes the kernel kill the rest. Without one, the first
// process leads the run's process group: the group goes with it (and the uid sweep afterwards
// catches whatever left the group).
void kill_run(pid_t pid, const Sandbox::Plan& p) {
  kill(pid, SIGKILL);
  if (!(p.flags & CLONE_NEWPID)) kill(-pid, SIGKILL);
}

}  // namespace

nlohmann::json SandboxFeatures::to_json() const {
  return {{"pid_namespace", pid_ns}, {"network_namespace", net_ns}, {"mount_namespace", mount_ns},
          {"ipc_namespace", ipc_ns}, {"uts_namespace", uts_ns},     {"user_namespace", user_ns},
          {"seccomp", seccomp},      {"leased_uid", leased_uid},    {"rlimits", true}};
}

std::string SandboxFeatures::describe() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (on) s += s.empty() ? name : std::string(", ") + name;
  };
  add(user_ns, "user");
  add(pid_ns, "pid");
  add(net_ns, "net");
  add(mount_ns, "mount");
  add(ipc_ns, "ipc");
  add(uts_ns, "uts");
  s = "namespaces: " + (s.empty() ? std::string("none") : s);
  s += seccomp ? "; seccomp" : "; no seccomp";
  s += leased_uid ? fmt::format("; uid leased from {}..{}", UidLease::kFirst, UidLease::kLast)
                  : std::string("; own uid");
  return s + "; rlimits";
}

Sandbox::Sandbox(const std::string& python, bool namespaces, double answer_timeout_s) {
  std::string answer = ask_python(python, "import sys; print(sys.executable); print(sys.prefix); print(sys.base_prefix)",
                                  answer_timeout_s);
  std::vector<std::string> lines;
  for (std::size_t pos = 0, end; (end = answer.find('\n', pos)) != std::string::npos; pos = end + 1)
    lines.push_back(answer.substr(pos, end - pos));
  if (lines.size() != 3 || lines[0].empty()) fail_input("--python {}: cannot learn where the interpreter lives", python);
  // Run sys.executable as it is (a venv's bin/python is a link that must stay one, or the venv is
  // lost) and make the real directories of it, its prefix and its base prefix visible.
  python_ = lines[0];
  std::vector<fs::path> wanted = {fs::canonical(python_).parent_path(), fs::path(python_).parent_path(), lines[1],
                                  lines[2]};
  for (const fs::path& dir : wanted) {
    fs::path real = fs::canonical(dir);
    bool covered = under(real, "/usr");
    for (const std::string& d : python_dirs_) covered = covered || real == d || under(real, d);
    if (!covered) python_dirs_.push_back(real.string());
  }
  seccomp_program_ = build_seccomp_program();
  reclaim_host_dirs();
  probe(namespaces);
}

// Finds the strongest setup that works here: all namespaces, then all but the late user
// namespace, then none (uid drop, rlimits and seccomp only).
void Sandbox::probe(bool namespaces) {
  const int all = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
  bool root = geteuid() == 0;
  struct Attempt {
    int flags;
    bool userns;
  };
  std::vector<Attempt> attempts = {{all, true}, {all, false}, {0, false}};
  if (!namespaces) attempts.erase(attempts.begin(), attempts.end() - 1);
  SandboxLimits limits;
  limits.wall_s = 20;
  std::string why;
  for (const Attempt& a : attempts) {
    namespace_flags_ = a.flags;
    userns_after_drop_ = a.userns && root;
    if (!root && a.userns) namespace_flags_ |= CLONE_NEWUSER;
    try {
      SandboxRun r = run({{"probe.py", "import sys\nsys.stdout.write('ok')\n"}}, "probe.py", {}, limits, lease_uid());
      if (r.exit_code == 0 && r.output == "ok") {
        features_.pid_ns = namespace_flags_ & CLONE_NEWPID;
        features_.net_ns = namespace_flags_ & CLONE_NEWNET;
        features_.mount_ns = namespace_flags_ & CLONE_NEWNS;
        features_.ipc_ns = namespace_flags_ & CLONE_NEWIPC;
        features_.uts_ns = namespace_flags_ & CLONE_NEWUTS;
        features_.user_ns = userns_after_drop_ || (namespace_flags_ & CLONE_NEWUSER);
        features_.seccomp = true;
        features_.leased_uid = root;
        return;
      }
      why = fmt::format("probe exited {} (signal {}), output \"{}\"", r.exit_code, r.signal, r.output.substr(0, 200));
    } catch (const RuntimeFailure& e) {
      why = e.what();
    }
  }
  fail_runtime("the sandbox cannot run {} on this machine: {} (without namespaces the interpreter must be "
               "reachable by an unprivileged uid; try --python /usr/bin/python3)",
               python_, why);
}

SandboxRun Sandbox::run(const std::vector<std::pair<std::string, std::string>>& files, const std::string& script,
                        const std::vector<std::string>& args, const SandboxLimits& limits,
                        const UidLease& uid) const {
  Plan p;
  std::string host_template = fmt::format("{}{}-XXXXXX", kHostDirPrefix, getpid());
  if (!mkdtemp(host_template.data())) fail_runtime("/tmp: cannot create a sandbox directory ({})", strerror(errno));
  p.host_dir = host_template;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{p.host_dir};
  chmod(p.host_dir.c_str(), 0755);

  p.flags = namespace_flags_;
  p.userns_at_clone = namespace_flags_ & CLONE_NEWUSER;
  p.userns_after_drop = userns_after_drop_;
  p.drop_uid = uid.uid() >= 0;
  p.uid = uid.uid();
  p.outer_uid = static_cast<int>(geteuid());
  p.outer_gid = static_cast<int>(getegid());
  p.limits = &limits;

  fs::path judge = fs::path(p.host_dir) / "judge";
  fs::create_directory(judge);
  for (const auto& [name, content] : files) {
    std::ofstream out(judge / name, std::ios::binary);
    out << content;
    if (!out) fail_runtime("{}: write error", (judge / name).string());
  }
  bool mount_ns = namespace_flags_ & CLONE_NEWNS;
  std::string judge_seen = mount_ns ? "/judge" : judge.string();
  if (mount_ns) {
    p.root = p.host_dir + "/root";
    fs::create_directory(p.root);
    auto mkdirs_for = [&](const fs::path& inside) {
      fs::path at = p.root;
      for (const fs::path& part : inside.relative_path()) {
        at /= part;
        if (std::find(p.mkdirs.begin(), p.mkdirs.end(), at.string()) == p.mkdirs.end()) p.mkdirs.push_back(at.string());
      }
    };
    auto bind_dir = [&](const std::string& source, const std::string& inside) {
      mkdirs_for(inside);
      p.binds.push_back({source, p.root + inside, false});
    };
    bind_dir("/usr", "/usr");
    for (const char* top : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
      std::error_code ec;
      auto status = fs::symlink_status(top, ec);
      if (ec) continue;
      if (fs::is_symlink(status)) {
        p.symlinks.emplace_back(fs::read_symlink(top).string(), p.root + top);
      } else if (fs::is_directory(status)) {
        bind_dir(top, top);
      }
    }
    for (const std::string& dir : python_dirs_) bind_dir(dir, dir);
    bind_dir(judge.string(), "/judge");
    mkdirs_for("/etc");
    if (fs::exists("/etc/ld.so.cache")) {
      p.mount_files.push_back(p.root + "/etc/ld.so.cache");
      p.binds.push_back({"/etc/ld.so.cache", p.root + "/etc/ld.so.cache", false});
    }
    mkdirs_for("/dev");
    for (const char* dev : {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"}) {
      p.mount_files.push_back(p.root + dev);
      p.binds.push_back({dev, p.root + dev, true});
    }
    mkdirs_for("/work");
    mkdirs_for("/tmp");  // read-only; TMPDIR points at /work
    p.work = p.root + "/work";
    int owner = p.drop_uid ? p.uid : 0;
    p.work_options = fmt::format("size={},nr_inodes=4096,mode=0700,uid={},gid={}", limits.file_bytes, owner, owner);
    p.workdir = "/work";
  } else {
    fs::path work = fs::path(p.host_dir) / "work";
    fs::create_directory(work);
    if (p.drop_uid && chown(work.c_str(), p.uid, p.uid) != 0) fail_runtime("{}: cannot chown", work.string());
    chmod(work.c_str(), 0700);
    p.workdir = work.string();
  }
  p.argv_storage = {python_, "-s", judge_seen + "/" + script};
  p.argv_storage.insert(p.argv_storage.end(), args.begin(), args.end());
  for (auto& a : p.argv_storage) p.argv.push_back(a.data());
  p.argv.push_back(nullptr);
  p.env_storage = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + p.workdir, "TMPDIR=" + p.workdir,
                   "LANG=C.UTF-8", "PYTHONHASHSEED=0", "PYTHONDONTWRITEBYTECODE=1", "OMP_NUM_THREADS=1"};
  for (auto& e : p.env_storage) p.envp.push_back(e.data());
  p.envp.push_back(nullptr);
  p.seccomp.len = static_cast<unsigned short>(seccomp_program_.size() / sizeof(sock_filter));
  p.seccomp.filter = reinterpret_cast<sock_filter*>(const_cast<unsigned char*>(seccomp_program_.data()));
  return run_once(p, limits);
}

SandboxRun Sandbox::run_once(const Plan& plan, const SandboxLimits& limits) const {
  Plan& p = const_cast<Plan&>(plan);
  int out_pipe[2], report_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) fail_runtime("pipe: {}", strerror(errno));
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (pipe2(report_pipe, O_CLOEXEC) != 0) fail_runtime("pipe: {}", strerror(errno));
  Fd report_read(report_pipe[0]), report_write(report_pipe[1]);
  Fd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  p.stdout_fd = out_write.fd;
  p.report_fd = report_write.fd;
  p.devnull_fd = devnull.fd;

  const std::size_t stack_size = 256 * 1024;
  void* stack = mmap(nullptr, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) fail_runtime("cannot allocate a stack for the sandbox");
  auto start = std::chrono::steady_clock::now();
  pid_t pid = clone(sandbox_main, static_cast<char*>(stack) + stack_size, p.flags | SIGCHLD, &p);
  int clone_errno = errno;
  out_write.reset();
  report_write.reset();
  if (pid < 0) {
    munmap(stack, stack_size);
    fail_runtime("cannot start the sandbox: clone: {}", strerror(clone_errno));
  }

  SandboxRun run;
  bool killed = false, exited = false;
  int status = 0;
  // Wake on output or on the first process's exit (a pidfd); without pidfds, check every 20 ms.
  Fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  std::array<char, 65536> buf;
  while (true) {
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = true;
    double left = limits.wall_s - since(start);
    if (left <= 0) {
      if (!exited) {
        kill_run(pid, p);
        killed = run.timed_out = true;
      }
      break;
    }
    // Once the first process is gone, take what is already in the pipe and stop: a stray writer
    // (only possible without a pid namespace) cannot hold the sample open.
    pollfd fds[2] = {{out_read.fd, POLLIN, 0}, {exited ? -1 : pidfd.fd, POLLIN, 0}};
    if (stop_requested() && !exited) {  // Ctrl-C: don't make the user wait out the time limit
      kill_run(pid, p);
      killed = run.timed_out = true;
      break;
    }
    int wait_ms = exited ? 0 : pidfd.fd >= 0 ? static_cast<int>(std::min(left, 0.2) * 1000) + 1 : 20;
    int ready = poll(fds, 2, wait_ms);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0 || !(fds[0].revents & (POLLIN | POLLHUP))) {
      if (exited && ready == 0) break;
      continue;
    }
    ssize_t n = read(out_read.fd, buf.data(), buf.size());
    if (n <= 0) break;  // every writer is gone
    std::size_t room = limits.output_bytes - std::min(limits.output_bytes, run.output.size());
    run.output.append(buf.data(), std::min(room, static_cast<std::size_t>(n)));  // the rest is dropped
  }
  // Stdout closed: the program is done or has closed it; it still gets until the deadline to exit.
  while (!exited) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    if (!killed && since(start) >= limits.wall_s) {
      kill_run(pid, p);
      killed = run.timed_out = true;
    }
    usleep(1000);
  }
  run.seconds = since(start);
  munmap(stack, stack_size);
  if (!(p.flags & CLONE_NEWPID)) {
    kill(-pid, SIGKILL);  // the group members the first process did not kill
    if (p.drop_uid && killed) {  // it was killed before it could clean up: do it here
      sweep_uid(p.uid);
      wait_until_uid_gone(p.uid, 2.0);
    }
  }

  Report report{};
  bool have_status = false;
  while (read(report_read.fd, &report, sizeof report) == sizeof report) {
    if (report.kind == 1)
      fail_runtime("sandbox setup failed at {}: {}", step_name(report.step), strerror(report.err));
    if (report.kind == 2) {
      status = report.step;
      have_status = true;
    }
  }
  if (!have_status && (p.flags & CLONE_NEWPID) && !killed) fail_runtime("the sandbox's init ended without a report");
  if (run.timed_out) {
    run.signal = SIGKILL;
  } else if (WIFEXITED(status)) {
    run.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    run.signal = WTERMSIG(status);
  }
  return run;
}

}  // namespace cotrain
