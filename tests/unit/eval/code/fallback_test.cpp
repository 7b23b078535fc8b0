// The last fallback (no namespaces: uid drop, rlimits, seccomp, process-group kill and uid sweep),
// forced here where namespaces work, so the path a namespace-less host takes is tested too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include "code_test_support.h"
#include "common/shared_data.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;

// Without a mount namespace the interpreter must be reachable by the unprivileged uid: a system
// one, not one under /root (pyenv).
const char* const kSystemPython = "/usr/bin/python3";

const Sandbox& fallback_sandbox() {
  static const std::unique_ptr<Sandbox> sandbox = std::make_unique<Sandbox>(kSystemPython, false);
  return *sandbox;
}

Judgement judge_fallback(const std::string& code, double timeout_s = 2.0) {
  UidLease uid = fallback_sandbox().lease_uid();
  Judgement j = judge_program(fallback_sandbox(), test::stdin_problem({{"", "done\n"}}), code, timeout_s, uid);
  EXPECT_TRUE(test::processes_of(uid).empty()) << "a process outlived its run";
  return j;
}

TEST(FallbackSandbox, ReportsWhatIsInForce) {
  if (access(kSystemPython, X_OK) != 0) GTEST_SKIP() << kSystemPython << " is not installed";
  const SandboxFeatures& f = fallback_sandbox().features();
  EXPECT_FALSE(f.pid_ns || f.net_ns || f.mount_ns || f.ipc_ns || f.uts_ns || f.user_ns);
  EXPECT_TRUE(f.seccomp);
  EXPECT_NE(f.describe().find("namespaces: none"), std::string::npos) << f.describe();
}

TEST(FallbackSandbox, JudgesAndContains) {
  if (access(kSystemPython, X_OK) != 0) GTEST_SKIP() << kSystemPython << " is not installed";
  if (geteuid() != 0) GTEST_SKIP() << "the uid layer of the fallback exists only when cotrain runs as root";
  EXPECT_EQ(judge_fallback("print('done')\n").verdict, "passed");
  EXPECT_EQ(judge_fallback("import posix\nfor i in range(10000):\n    try: posix.fork()\n    except OSError: pass\n"
                           "while True: pass\n", 1.0)
                .verdict,
            "time limit");
  fs::path canary = test::scratch_dir() / "canary";
  std::string write_outside =
      "try:\n    open('" + canary.string() + "', 'w').write('x')\n    print('escaped')\n"
      "except OSError:\n    print('done')\n";
  Judgement outside = judge_fallback(write_outside);
  EXPECT_EQ(outside.verdict, "passed") << outside.message;
  EXPECT_FALSE(fs::exists(canary));
  // A daemon that leaves the process group and holds the output pipe: the sample still ends when
  // the program does, and the uid sweep removes the daemon.
  auto start = std::chrono::steady_clock::now();
  Judgement daemon = judge_fallback(
      "import posix, time\nif posix.fork() == 0:\n    posix.setsid()\n    time.sleep(30)\nprint('done')\n");
  EXPECT_EQ(daemon.verdict, "passed") << daemon.message;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
}

}  // namespace
}  // namespace cotrain
