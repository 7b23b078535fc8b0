// Who this process is in a multi-process job, read from the launcher's environment: torchrun's
// variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) or, when
// they are absent, SLURM's (SLURM_PROCID, SLURM_LOCALID, SLURM_NTASKS, the node list and the job
// id). A process started with neither is a job of one. Torch-free.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cotrain {

struct LaunchInfo {
  std::string launcher = "none";  // none | env (torchrun or plain variables) | slurm
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;  // within this node; the CUDA device is local_rank
  std::string master_addr;                   // where rank 0's rendezvous store listens
  int master_port = 0;
  // torchrun's agent already serves the store at master_addr:master_port
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank connects as a client.
  bool agent_store = false;
};

// Returns the variable's value, or nothing when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> process_env(const std::string& name);

// Inconsistent or malformed variables are an InputError naming them, e.g.
// "launch environment: RANK=3 must be < WORLD_SIZE=2".
LaunchInfo launch_info_from_env(const EnvLookup& env = process_env);

// SLURM's compressed host list in full: "node[01-03,07],gpu-a" -> node01 node02 node03 node07
// gpu-a. Ranges keep the zero padding of their first bound; several bracket groups in one name
// multiply out. Malformed lists are an InputError.
std::vector<std::string> expand_slurm_nodelist(const std::string& list);

// The rendezvous port of a SLURM job when MASTER_PORT is unset: 10000 + the job id's last four
// digits, as Sky-T1's launcher does, so every task of the job derives the same port.
int slurm_master_port(const std::string& job_id);

}  // namespace cotrain
