// Hostile programs: each test asserts the verdict and that the host was left alone (no file
// written outside, nothing of the checkout read, no connection made, no process left behind).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "code_test_support.h"
#include "common/shared_data.h"

namespace cotrain {
namespace {

namespace fs = std::filesystem;
using test::judge;
using test::stdin_problem;

// The programs use the posix module directly: lcb_runner's os.fork = None & co. stop nobody.
const CodeProblem kSay = stdin_problem({{"", "done\n"}});

// Every process forks until the process limit, then all spin. (A loop that only retries a failing
// fork can lose the per-test alarm inside os.fork, as under lcb_runner; the whole-sample bound
// ends it then, (timeout + 1) * tests + 5 seconds later.)
const char* const kForkBomb =
    "import posix\n"
    "for i in range(10000):\n"
    "    try: posix.fork()\n"
    "    except OSError: pass\n"
    "while True: pass\n";

TEST(Hostile, ForkBombIsContainedAndLeavesNothing) {
  auto start = std::chrono::steady_clock::now();
  Judgement j = judge(kSay, kForkBomb, 1.0);  // and no process of its uid is left
  EXPECT_EQ(j.verdict, "time limit");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  EXPECT_EQ(system("true"), 0);  // the host can still start processes
}

TEST(Hostile, GigabytesOfOutputAreCapped) {
  // To the real fd 1 (goes nowhere), through print (captured, capped), into a file (RLIMIT_FSIZE).
  EXPECT_EQ(judge(kSay, "import posix\nb = b'x' * (1 << 20)\nwhile True: posix.write(1, b)\n", 1.0).verdict,
            "time limit");
  EXPECT_EQ(judge(kSay, "s = 'x' * (1 << 20)\nwhile True: print(s)\n", 2.0).verdict, "wrong answer");
  Judgement file = judge(kSay, "f = open('big', 'w')\ns = 'x' * (1 << 20)\nwhile True: f.write(s)\n", 2.0);
  EXPECT_EQ(file.verdict, "runtime error") << file.message;  // EFBIG / SIGXFSZ at the file size limit
}

TEST(Hostile, CannotWriteOutsideItsWorkDir) {
  fs::path dir = test::scratch_dir();
  fs::path canary = dir / "canary";
  std::string code =
      "import posix\n"
      "written = []\n"
      "for path in ['" + canary.string() + "', '/tmp/cotrain-canary', '" COTRAIN_SOURCE_DIR "/canary',\n"
      "             '/judge/solution.py', '/usr/canary', '/canary']:\n"
      "    try:\n"
      "        fd = posix.open(path, posix.O_WRONLY | posix.O_CREAT, 0o644)\n"
      "        posix.write(fd, b'escaped')\n"
      "        written.append(path)\n"
      "    except OSError:\n"
      "        pass\n"
      "open('inside', 'w').write('fine')\n"  // the work dir is writable
      "print('done' if not written and open('inside').read() == 'fine' else written)\n";
  Judgement j = judge(kSay, code);
  EXPECT_EQ(j.verdict, "passed") << j.message;
  EXPECT_FALSE(fs::exists(canary));
  EXPECT_FALSE(fs::exists("/tmp/cotrain-canary"));
  EXPECT_FALSE(fs::exists(COTRAIN_SOURCE_DIR "/canary"));
  EXPECT_FALSE(fs::exists("/canary"));
}

TEST(Hostile, CannotReadTheCheckoutOrHostSecrets) {
  fs::path dir = test::scratch_dir();
  { std::ofstream(dir / "secret") << "s3cret"; }
  fs::permissions(dir / "secret", fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  std::string code =
      "seen = []\n"
      "for path in ['" COTRAIN_SOURCE_DIR "/CMakeLists.txt', '" + (dir / "secret").string() + "',\n"
      "             '/etc/passwd', '/etc/shadow', '/root/.bashrc', '/proc/1/environ']:\n"
      "    try:\n"
      "        open(path).read(1)\n"
      "        seen.append(path)\n"
      "    except OSError:\n"
      "        pass\n"
      "print('done' if not seen else seen)\n";
  Judgement j = judge(kSay, code);
  EXPECT_EQ(j.verdict, "passed") << j.message;
}

TEST(Hostile, InheritsNoDescriptorOfTheHost) {
  fs::path secret = test::scratch_dir() / "secret";
  { std::ofstream(secret) << "s3cret"; }
  int fd = open(secret.c_str(), O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(fd, 0);
  struct stat st {};
  fstat(fd, &st);
  std::string code =
      "import posix\n"
      "found = []\n"
      "for fd in range(3, 1024):\n"
      "    try:\n"
      "        if posix.fstat(fd).st_ino == " + std::to_string(st.st_ino) + ":\n"
      "            found.append(posix.read(fd, 100))\n"
      "    except OSError:\n"
      "        pass\n"
      "print('done' if not found else found)\n";
  Judgement j = judge(kSay, code);
  close(fd);
  EXPECT_EQ(j.verdict, "passed") << j.message;
}

TEST(Hostile, EachSampleGetsAFreshWorkDir) {
  const char* code =
      "import os\n"
      "seen = os.listdir('.')\n"
      "open('left-behind', 'w').write('x')\n"
      "print('done' if not seen else seen)\n";
  EXPECT_EQ(judge(kSay, code).verdict, "passed");
  Judgement second = judge(kSay, code);
  EXPECT_EQ(second.verdict, "passed") << "the second sample saw the first one's file";
}

TEST(Hostile, NoNetworkConnectionArrives) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  std::string code =
      "import socket, _socket\n"
      "ok = []\n"
      "for family, kind in [(socket.AF_INET, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_STREAM),\n"
      "                     (socket.AF_INET, socket.SOCK_DGRAM), (socket.AF_NETLINK, socket.SOCK_RAW)]:\n"
      "    try:\n"
      "        s = _socket.socket(family, kind)\n"
      "        s.settimeout(0.5)\n"
      "        if family == socket.AF_INET: s.connect(('127.0.0.1', " + std::to_string(port) + "))\n"
      "        ok.append(family)\n"
      "    except OSError:\n"
      "        pass\n"
      "print('done' if not ok else ok)\n";
  Judgement j = judge(kSay, code);
  EXPECT_EQ(j.verdict, "passed") << j.message;
  EXPECT_LT(accept(listener, nullptr, nullptr), 0) << "a connection arrived from the sandbox";
  close(listener);
}

TEST(Hostile, CannotSignalTheParentOrOtherProcesses) {
  // Our pid is given to the program; inside its pid namespace that pid is someone else or nobody.
  std::string code =
      "import posix, signal\n"
      "for pid in [" + std::to_string(getpid()) + ", " + std::to_string(getppid()) + ", posix.getppid(), -1, 1]:\n"
      "    try: posix.kill(pid, signal.SIGKILL)\n"
      "    except OSError: pass\n"
      "print('done')\n";
  Judgement j = judge(kSay, code);
  // We are still here, and so is our parent; kill(-1) reached no one the program may not signal.
  EXPECT_EQ(j.verdict, "passed") << j.message;
  EXPECT_EQ(kill(getppid(), 0), 0);
}

TEST(Hostile, BackgroundProcessDoesNotOutliveTheRun) {
  fs::path dir = test::scratch_dir();
  fs::path canary = dir / "late-canary";
  std::string code =
      "import posix, time\n"
      "if posix.fork() == 0:\n"
      "    posix.setsid()\n"
      "    if posix.fork() == 0:\n"
      "        time.sleep(1)\n"
      "        try: open('" + canary.string() + "', 'w').write('x')\n"
      "        except OSError: pass\n"
      "        while True: time.sleep(1)\n"
      "    posix._exit(0)\n"
      "print('done')\n";
  UidLease uid = test::test_sandbox().lease_uid();
  auto start = std::chrono::steady_clock::now();
  Judgement j = judge(kSay, code, 2.0, uid);  // no process of uid is left at the end
  EXPECT_EQ(j.verdict, "passed") << j.message;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.5);
  sleep(2);
  EXPECT_FALSE(fs::exists(canary));
  EXPECT_TRUE(test::processes_of(uid).empty());
}

TEST(Hostile, DangerousSyscallsAreRefused) {
  // ptrace, mount, unshare, bpf, keyctl through ctypes: each must fail.
  const char* code =
      "import ctypes, errno\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "calls = {'ptrace': lambda: libc.ptrace(16, 1, 0, 0),\n"
      "         'mount': lambda: libc.mount(b'none', b'/work', b'tmpfs', 0, None),\n"
      "         'unshare': lambda: libc.unshare(0x10000000),\n"
      "         'bpf': lambda: libc.syscall(321, 0, 0, 0),\n"
      "         'keyctl': lambda: libc.syscall(250, 0, 0, 0),\n"
      "         'setuid0': lambda: libc.setuid(0)}\n"
      "allowed = [name for name, call in calls.items() if call() == 0]\n"
      "print('done' if not allowed else allowed)\n";
  Judgement j = judge(kSay, code);
  EXPECT_EQ(j.verdict, "passed") << j.message;
}

TEST(Hostile, ParallelRunsDoNotDisturbEachOther) {
  // A fork bomb under one lease must not make a correct program under another fail.
  UidLease bomb_uid = test::test_sandbox().lease_uid(), uid = test::test_sandbox().lease_uid();
  std::thread bomb([&] { EXPECT_EQ(judge(kSay, kForkBomb, 1.0, bomb_uid).verdict, "time limit"); });
  for (int i = 0; i < 3; ++i) EXPECT_EQ(judge(kSay, "print('done')\n", 2.0, uid).verdict, "passed");
  bomb.join();
  EXPECT_TRUE(test::processes_of(bomb_uid).empty());
}

TEST(Hostile, StartsWhileOtherThreadsHoldAllocatorLocks) {
  // cotrain judges with several threads; a sandbox started while another thread is inside malloc
  // must not inherit that lock held forever (a glibc fork() in the clone child would wait on it).
  std::atomic<bool> done{false};
  std::thread churn([&] {
    while (!done) {
      std::vector<std::string> junk;
      for (int i = 0; i < 256; ++i) junk.emplace_back(1000 + i, 'x');
    }
  });
  try {
    for (int i = 0; i < 40; ++i) {
      Judgement j = judge(kSay, "print('done')\n", 1.0);
      EXPECT_EQ(j.verdict, "passed") << "run " << i << ": " << j.message;
      if (j.verdict != "passed") break;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  done = true;
  churn.join();
}

TEST(UidLease, LeasesNeverShareAUid) {
  if (geteuid() != 0) GTEST_SKIP() << "only root runs programs as leased uids";
  // Each lease is its own open of the lock file, so this also stands for leases in other processes.
  std::vector<UidLease> held;
  for (int i = 0; i < 3; ++i) held.push_back(test::test_sandbox().lease_uid());
  std::set<int> uids;
  for (const UidLease& l : held) {
    EXPECT_GE(l.uid(), UidLease::kFirst);
    EXPECT_LE(l.uid(), UidLease::kLast);
    uids.insert(l.uid());
  }
  EXPECT_EQ(uids.size(), held.size());
}

}  // namespace
}  // namespace cotrain
