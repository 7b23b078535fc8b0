// Multi-process tests on the CPU: several train_dist_worker processes (tests/unit/train/worker)
// form a Gloo group over loopback, launched through plain environment variables or through
// torchrun from the installed torch package. The workers check their own numbers against a
// single-process run; these tests check exit codes, output and how long failures take.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Env = std::map<std::string, std::string>;  // "" unsets a variable

constexpr double kFailTimeout = 3;  // dist.timeout_s in the failure tests

const std::string kWorker = COTRAIN_DIST_WORKER;

struct Exit {
  int code = -1;  // -9: killed at the time limit
  double seconds = 0;
  std::string out, err;
};

fs::path scratch(const std::string& name) {
  fs::path dir = fs::path(COTRAIN_BINARY_DIR) / "test-scratch" / "train" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

pid_t spawn(const std::vector<std::string>& argv, const Env& changes, const fs::path& out, const fs::path& err) {
  Env env;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    std::size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : changes) {
    if (value.empty()) {
      env.erase(key);
    } else {
      env[key] = value;
    }
  }
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "cannot start " << argv[0];
  return pid;
}

// Waits for every process, killing what is left after LIMIT_S (or once every process in
// MUST_END has ended, the others: a hung rank).
std::vector<Exit> wait_all(const std::vector<pid_t>& pids, const std::vector<fs::path>& logs, double limit_s,
                           const std::vector<bool>& must_end = {}) {
  std::vector<Exit> exits(pids.size());
  std::vector<bool> done(pids.size(), false);
  auto start = Clock::now();
  while (true) {
    bool all = true, required = true;
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (!done[i]) {
        int status = 0;
        if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
          done[i] = true;
          exits[i].seconds = std::chrono::duration<double>(Clock::now() - start).count();
          exits[i].code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        }
      }
      all = all && done[i];
      if (!must_end.empty() && must_end[i]) required = required && done[i];
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (all || (!must_end.empty() && required) || elapsed > limit_s) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (std::size_t i = 0; i < pids.size(); ++i) {
    if (!done[i]) {
      kill(pids[i], SIGKILL);
      waitpid(pids[i], nullptr, 0);
      exits[i].code = -9;
    }
    exits[i].out = slurp(logs[2 * i]);
    exits[i].err = slurp(logs[2 * i + 1]);
  }
  return exits;
}

struct RankOptions {
  double timeout_s = 60;    // dist.timeout_s of the workers
  std::vector<int> absent;  // ranks never started
  std::vector<int> may_hang;  // ranks killed once the others have ended
};

RankOptions failing(std::vector<int> absent = {}, std::vector<int> may_hang = {}) {
  return {kFailTimeout, std::move(absent), std::move(may_hang)};
}

// WORLD workers of ARGS, each with RANK, WORLD_SIZE, MASTER_ADDR, ... set by hand.
std::vector<Exit> run_ranks(const std::string& name, int world, const std::vector<std::string>& args,
                            const RankOptions& options = {}) {
  fs::path dir = scratch(name);
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  std::vector<fs::path> logs;
  std::vector<bool> must_end;
  for (int r = 0; r < world; ++r) {
    if (std::find(options.absent.begin(), options.absent.end(), r) != options.absent.end()) continue;
    std::vector<std::string> argv{kWorker};
    argv.insert(argv.end(), args.begin(), args.end());
    Env env{{"RANK", std::to_string(r)}, {"WORLD_SIZE", std::to_string(world)}, {"LOCAL_RANK", std::to_string(r)},
            {"LOCAL_WORLD_SIZE", std::to_string(world)}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port},
            {"OMP_NUM_THREADS", "1"}, {"COTRAIN_TEST_TIMEOUT_S", std::to_string(options.timeout_s)}};
    logs.push_back(dir / ("rank" + std::to_string(r) + ".out"));
    logs.push_back(dir / ("rank" + std::to_string(r) + ".err"));
    pids.push_back(spawn(argv, env, logs[logs.size() - 2], logs.back()));
    must_end.push_back(std::find(options.may_hang.begin(), options.may_hang.end(), r) == options.may_hang.end());
  }
  return wait_all(pids, logs, 240, options.may_hang.empty() ? std::vector<bool>{} : must_end);
}

// One process, no launcher variables at all.
Exit run_single(const std::string& name, const std::vector<std::string>& args) {
  fs::path dir = scratch(name);
  std::vector<std::string> argv{kWorker};
  argv.insert(argv.end(), args.begin(), args.end());
  Env env{{"RANK", ""}, {"WORLD_SIZE", ""}, {"LOCAL_RANK", ""}, {"MASTER_ADDR", ""}, {"MASTER_PORT", ""},
          {"SLURM_PROCID", ""}, {"OMP_NUM_THREADS", "1"}};
  std::vector<fs::path> logs{dir / "out", dir / "err"};
  return wait_all({spawn(argv, env, logs[0], logs[1])}, logs, 240)[0];
}

// torchrun from the installed torch package: python3 -m torch.distributed.run --no-python ...
Exit run_torchrun(const std::string& name, int nproc, const std::vector<std::string>& args) {
  fs::path dir = scratch(name);
  std::vector<std::string> argv{"python3", "-m", "torch.distributed.run", "--no-python", "--nproc-per-node",
                                std::to_string(nproc), "--master-port", std::to_string(free_port()), kWorker};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<fs::path> logs{dir / "out", dir / "err"};
  return wait_all({spawn(argv, {{"RANK", ""}, {"WORLD_SIZE", ""}}, logs[0], logs[1])}, logs, 240)[0];
}

void expect_ok(const std::vector<Exit>& exits, const std::string& scenario) {
  for (std::size_t r = 0; r < exits.size(); ++r) {
    EXPECT_EQ(exits[r].code, 0) << "rank " << r << ": " << exits[r].err;
    EXPECT_NE(exits[r].out.find("ok " + scenario), std::string::npos) << exits[r].out;
  }
}

int count_of(const std::string& text, const std::string& piece) {
  int n = 0;
  for (std::size_t pos = text.find(piece); pos != std::string::npos; pos = text.find(piece, pos + 1)) ++n;
  return n;
}

// A failed rank's stderr ends with one "error: rank R/W: COLLECTIVE ..." line and came within
// the timeout (plus process start-up and a margin for a loaded CI machine).
void expect_failed_in_time(const Exit& exit, int rank, int world, double timeout_s, const std::string& what) {
  EXPECT_NE(exit.code, 0) << exit.err;
  EXPECT_NE(exit.code, -9) << "rank " << rank << " did not end by itself: " << exit.err;
  EXPECT_LT(exit.seconds, timeout_s + 10) << exit.err;
  std::string last = exit.err.substr(0, exit.err.find_last_not_of('\n') + 1);
  last = last.substr(last.find_last_of('\n') + 1);
  EXPECT_EQ(last.rfind("error: rank " + std::to_string(rank) + "/" + std::to_string(world) + ": ", 0), 0u)
      << exit.err;
  EXPECT_NE(last.find(what), std::string::npos) << exit.err;
}

TEST(Distributed, CollectivesOnTwoRanksFromEnvironmentVariables) {
  expect_ok(run_ranks("collectives2", 2, {"collectives"}), "collectives");
}

TEST(Distributed, CollectivesOnThreeRanksThroughTorchrun) {
  Exit exit = run_torchrun("collectives3", 3, {"collectives"});
  EXPECT_EQ(exit.code, 0) << exit.err;
  EXPECT_EQ(count_of(exit.out, "ok collectives"), 3) << exit.out << exit.err;
  for (int r = 0; r < 3; ++r) EXPECT_NE(exit.out.find("rank " + std::to_string(r) + "/3: ok"), std::string::npos);
}

// Two ranks, two micro-batches each (gradient accumulation), untied embeddings, overlap on.
TEST(Distributed, EveryShardModeEqualsOneProcessOnTwoRanks) {
  expect_ok(run_ranks("train2", 2, {"train"}), "train");
}

// Three ranks, one micro-batch each; tied embeddings (the embedding is also the head), frozen
// projections inside trainable layers (as LoRA), activation checkpointing under ZeRO-3, buckets
// so small that units split into several flat groups, and the optimizer state "offloaded" (on
// the CPU that is where it already is, so this runs the code path, not the transfers).
TEST(Distributed, EveryShardModeEqualsOneProcessOnThreeRanksWithCheckpointingAndFrozenParams) {
  expect_ok(run_ranks("train3", 3, {"train", "--tied", "--freeze", "--checkpoint", "--bucket", "3000", "--offload"}),
            "train");
}

// bf16 weights on two ranks, tied embeddings, small buckets: the split masters (optimizer.h) of
// every mode, also with the ZeRO-1/2 all-gather of the updated slices.
TEST(Distributed, Bf16ParametersAreTheirMastersRoundedOnEveryRankInEveryShardMode) {
  expect_ok(run_ranks("train2_bf16", 2, {"train", "--bf16", "--tied", "--bucket", "3000"}), "train");
}

TEST(Distributed, ShardedModesWithoutOverlapThroughTorchrun) {
  Exit exit = run_torchrun("train_torchrun", 2, {"train", "--modes", "grads,params", "--overlap", "0"});
  EXPECT_EQ(exit.code, 0) << exit.err;
  EXPECT_EQ(count_of(exit.out, "ok train"), 2) << exit.out << exit.err;
}

// Saved by 3 ranks under ZeRO-3, resumed by 2 under ZeRO-2, then by one process (no launcher)
// under ZeRO-1, which checks the result against an uninterrupted single-process run.
TEST(Distributed, CheckpointsMoveAcrossWorldSizes) {
  fs::path dir = scratch("resume");
  std::string a = (dir / "a.safetensors").string(), b = (dir / "b.safetensors").string();
  std::string c = (dir / "c.safetensors").string();
  expect_ok(run_ranks("resume3", 3, {"resume", "params", "-", "2", a, "--freeze"}), "resume");
  expect_ok(run_ranks("resume2", 2, {"resume", "grads", a, "1", b, "--freeze"}), "resume");
  Exit single = run_single("resume1", {"resume", "optimizer", b, "1", c, "--freeze", "--verify"});
  EXPECT_EQ(single.code, 0) << single.err;
  EXPECT_NE(single.out.find("rank 0/1: ok resume"), std::string::npos) << single.out;
}

TEST(Distributed, DeadRankMakesTheOthersFailWithinTheTimeout) {
  auto exits = run_ranks("die", 3, {"die", "1"}, failing());
  EXPECT_EQ(exits[1].code, 7);
  expect_failed_in_time(exits[0], 0, 3, kFailTimeout, "all_reduce (token count, 8 B) failed");
  expect_failed_in_time(exits[2], 2, 3, kFailTimeout, "all_reduce (token count, 8 B) failed");
}

TEST(Distributed, HungRankMakesTheOthersFailWithinTheTimeout) {
  auto exits = run_ranks("hang", 3, {"hang", "2"}, failing({}, {2}));
  EXPECT_EQ(exits[2].code, -9);  // still asleep: killed by the test
  expect_failed_in_time(exits[0], 0, 3, kFailTimeout, "all_reduce (token count, 8 B) failed");
  expect_failed_in_time(exits[1], 1, 3, kFailTimeout, "all_reduce (token count, 8 B) failed");
}

TEST(Distributed, MissingRankFailsTheRendezvousWithinTheTimeout) {
  auto exits = run_ranks("absent", 3, {"collectives"}, failing({1}));
  ASSERT_EQ(exits.size(), 2u);
  expect_failed_in_time(exits[0], 0, 3, kFailTimeout, "rendezvous at 127.0.0.1:");
  expect_failed_in_time(exits[1], 2, 3, kFailTimeout, "failed");
}

}  // namespace
