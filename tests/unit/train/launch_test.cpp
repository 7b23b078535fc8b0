#include "cotrain/train/launch.h"

#include <gtest/gtest.h>

#include <map>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

using Env = std::map<std::string, std::string>;

LaunchInfo from(const Env& env) {
  return launch_info_from_env([&](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

// The InputError's message, or "" when there was none.
std::string error_of(const Env& env) {
  try {
    from(env);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Launch, NoVariablesIsAJobOfOne) {
  LaunchInfo info = from({{"HOME", "/root"}, {"SLURM_JOB_ID", "77"}});  // a job id alone is not a task
  EXPECT_EQ(info.launcher, "none");
  EXPECT_EQ(info.rank, 0);
  EXPECT_EQ(info.world_size, 1);
  EXPECT_EQ(info.local_rank, 0);
}

TEST(Launch, ReadsTorchrunVariables) {
  LaunchInfo info = from({{"RANK", "5"}, {"WORLD_SIZE", "16"}, {"LOCAL_RANK", "5"}, {"LOCAL_WORLD_SIZE", "8"},
                          {"MASTER_ADDR", "node01"}, {"MASTER_PORT", "29500"},
                          {"TORCHELASTIC_USE_AGENT_STORE", "True"}});
  EXPECT_EQ(info.launcher, "env");
  EXPECT_EQ(info.rank, 5);
  EXPECT_EQ(info.world_size, 16);
  EXPECT_EQ(info.local_rank, 5);
  EXPECT_EQ(info.local_world_size, 8);
  EXPECT_EQ(info.master_addr, "node01");
  EXPECT_EQ(info.master_port, 29500);
  EXPECT_TRUE(info.agent_store);
}

TEST(Launch, PlainVariablesDefaultToOneNode) {
  LaunchInfo info = from({{"RANK", "2"}, {"WORLD_SIZE", "3"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1234"}});
  EXPECT_EQ(info.local_rank, 2);
  EXPECT_EQ(info.local_world_size, 3);
  EXPECT_FALSE(info.agent_store);
  // A world of one needs no rendezvous address.
  LaunchInfo single = from({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  EXPECT_EQ(single.world_size, 1);
  EXPECT_EQ(single.master_port, 0);
}

TEST(Launch, InconsistentTorchrunVariablesAreOneLineErrors) {
  const Env base{{"MASTER_ADDR", "h"}, {"MASTER_PORT", "29500"}};
  auto with = [&](Env extra) {
    Env env = base;
    for (const auto& [key, value] : extra) env[key] = value;
    return error_of(env);
  };
  EXPECT_EQ(with({{"RANK", "3"}, {"WORLD_SIZE", "2"}}), "launch environment: RANK=3 must be < WORLD_SIZE=2");
  EXPECT_EQ(with({{"RANK", "0"}}), "launch environment: RANK is set but WORLD_SIZE is not");
  EXPECT_EQ(with({{"WORLD_SIZE", "2"}}), "launch environment: WORLD_SIZE is set but RANK is not");
  EXPECT_EQ(with({{"RANK", "one"}, {"WORLD_SIZE", "2"}}), "launch environment: RANK='one' is not an integer");
  EXPECT_EQ(with({{"RANK", "0"}, {"WORLD_SIZE", "2x"}}), "launch environment: WORLD_SIZE='2x' is not an integer");
  EXPECT_EQ(with({{"RANK", "-1"}, {"WORLD_SIZE", "2"}}), "launch environment: RANK=-1 is out of range");
  EXPECT_EQ(with({{"RANK", "0"}, {"WORLD_SIZE", "0"}}), "launch environment: WORLD_SIZE=0 must be >= 1");
  EXPECT_EQ(with({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"}}),
            "launch environment: LOCAL_RANK=2 must be < LOCAL_WORLD_SIZE=2");
  EXPECT_EQ(with({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "8"}}),
            "launch environment: LOCAL_WORLD_SIZE=8 must be between 1 and WORLD_SIZE=4");
  EXPECT_EQ(with({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_WORLD_SIZE", "2"}}),
            "launch environment: LOCAL_WORLD_SIZE is set but LOCAL_RANK is not");
  EXPECT_EQ(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}}),
            "launch environment: WORLD_SIZE=2 but MASTER_ADDR is not set");
  EXPECT_EQ(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}),
            "launch environment: WORLD_SIZE=2 but MASTER_PORT is not set");
  EXPECT_EQ(with({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}),
            "launch environment: MASTER_PORT=70000 is not a TCP port (1-65535)");
}

TEST(Launch, TorchrunVariablesWinOverSlurm) {
  LaunchInfo info = from({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "9"},
                          {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}});
  EXPECT_EQ(info.launcher, "env");
  EXPECT_EQ(info.rank, 1);
}

TEST(Launch, ReadsSlurmVariables) {
  LaunchInfo info = from({{"SLURM_PROCID", "9"}, {"SLURM_LOCALID", "1"}, {"SLURM_NTASKS", "16"},
                          {"SLURM_NODEID", "1"}, {"SLURM_TASKS_PER_NODE", "8(x2)"},
                          {"SLURM_JOB_NODELIST", "gpu[007-008]"}, {"SLURM_JOB_ID", "4242137"}});
  EXPECT_EQ(info.launcher, "slurm");
  EXPECT_EQ(info.rank, 9);
  EXPECT_EQ(info.world_size, 16);
  EXPECT_EQ(info.local_rank, 1);
  EXPECT_EQ(info.local_world_size, 8);
  EXPECT_EQ(info.master_addr, "gpu007");
  EXPECT_EQ(info.master_port, 12137);  // 10000 + the job id's last four digits
  EXPECT_FALSE(info.agent_store);
}

TEST(Launch, SlurmUsesTheStepsNodesAndExportedMaster) {
  Env env{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_STEP_NODELIST", "b[2-3]"},
          {"SLURM_JOB_NODELIST", "a1,b[2-3]"}, {"SLURM_JOB_ID", "15"}, {"SLURM_STEP_TASKS_PER_NODE", "3,1"}};
  LaunchInfo info = from(env);
  EXPECT_EQ(info.master_addr, "b2");
  EXPECT_EQ(info.master_port, 10015);
  EXPECT_EQ(info.local_world_size, 3);  // node 0 of "3,1"
  env["MASTER_ADDR"] = "10.0.0.1";
  env["MASTER_PORT"] = "23456";
  info = from(env);
  EXPECT_EQ(info.master_addr, "10.0.0.1");
  EXPECT_EQ(info.master_port, 23456);
}

TEST(Launch, InconsistentSlurmVariablesAreOneLineErrors) {
  EXPECT_EQ(error_of({{"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "4"}}),
            "launch environment: SLURM_PROCID=4 must be < SLURM_NTASKS=4");
  EXPECT_EQ(error_of({{"SLURM_PROCID", "0"}}), "launch environment: SLURM_PROCID is set but SLURM_NTASKS is not");
  EXPECT_EQ(error_of({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_ID", "3"}}),
            "launch environment: SLURM_NTASKS=2 but neither MASTER_ADDR nor SLURM_JOB_NODELIST is set");
  EXPECT_EQ(error_of({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "n1"}}),
            "launch environment: SLURM_NTASKS=2 but neither MASTER_PORT nor SLURM_JOB_ID is set");
  EXPECT_EQ(error_of({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "n[1-"},
                      {"SLURM_JOB_ID", "3"}}),
            "launch environment: node list 'n[1-': unclosed '['");
  EXPECT_EQ(error_of({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_NODEID", "2"},
                      {"SLURM_TASKS_PER_NODE", "1(x2)"}}),
            "launch environment: SLURM_NODEID=2 but SLURM_TASKS_PER_NODE lists 2 nodes");
  EXPECT_EQ(error_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_TASKS_PER_NODE", "2(x"}}),
            "launch environment: SLURM_TASKS_PER_NODE='2(x' is malformed");
}

TEST(SlurmNodelist, ExpandsRangesListsAndPadding) {
  using V = std::vector<std::string>;
  EXPECT_EQ(expand_slurm_nodelist("node[01-04,07]"), (V{"node01", "node02", "node03", "node04", "node07"}));
  EXPECT_EQ(expand_slurm_nodelist("a-1,b[2-3]"), (V{"a-1", "b2", "b3"}));
  EXPECT_EQ(expand_slurm_nodelist("n[098-101]"), (V{"n098", "n099", "n100", "n101"}));
  EXPECT_EQ(expand_slurm_nodelist("n[8-10]"), (V{"n8", "n9", "n10"}));
  EXPECT_EQ(expand_slurm_nodelist("solo"), (V{"solo"}));
  EXPECT_EQ(expand_slurm_nodelist("r[1-2]n[1,3].ib"), (V{"r1n1.ib", "r1n3.ib", "r2n1.ib", "r2n3.ib"}));
  EXPECT_EQ(expand_slurm_nodelist("gpu[5],cpu[0-1]"), (V{"gpu5", "cpu0", "cpu1"}));
}

TEST(SlurmNodelist, RejectsMalformedLists) {
  for (const char* bad : {"", "a,,b", "n[1-2", "n]1[", "n[2-1]", "n[a-b]", "n[1-]", "n[]", "a,"}) {
    EXPECT_THROW(expand_slurm_nodelist(bad), InputError) << bad;
  }
}

TEST(SlurmPort, IsTenThousandPlusTheLastFourDigits) {
  EXPECT_EQ(slurm_master_port("12345678"), 15678);
  EXPECT_EQ(slurm_master_port("5000"), 15000);
  EXPECT_EQ(slurm_master_port("42"), 10042);
  EXPECT_EQ(slurm_master_port("190000"), 10000);
  EXPECT_THROW(slurm_master_port("12_3"), InputError);
  EXPECT_THROW(slurm_master_port(""), InputError);
}

}  // namespace
}  // namespace cotrain
