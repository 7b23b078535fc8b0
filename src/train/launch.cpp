#include "cotrain/train/launch.h"

#include <charconv>
#include <cstdlib>

#include "cotrain/core/error.h"

namespace cotrain {
namespace {

constexpr const char* kWhere = "launch environment";

// Unset and empty are the same (torch's env:// treats them so).
std::optional<std::string> get(const EnvLookup& env, const std::string& name) {
  auto value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

long parse_integer(const std::string& name, const std::string& text) {
  long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    fail_input("{}: {}='{}' is not an integer", kWhere, name, text);
  }
  return value;
}

int integer_var(const EnvLookup& env, const std::string& name) {
  auto text = get(env, name);
  if (!text) fail_input("{}: {} is not set", kWhere, name);
  long value = parse_integer(name, *text);
  if (value < 0 || value > 1'000'000) fail_input("{}: {}={} is out of range", kWhere, name, value);
  return static_cast<int>(value);
}

int port_var(const std::string& name, const std::string& text) {
  long port = parse_integer(name, text);
  if (port < 1 || port > 65535) fail_input("{}: {}={} is not a TCP port (1-65535)", kWhere, name, port);
  return static_cast<int>(port);
}

void check_ranks(const LaunchInfo& info, const char* rank, const char* world, const char* local_rank,
                 const char* local_world) {
  if (info.world_size < 1) fail_input("{}: {}={} must be >= 1", kWhere, world, info.world_size);
  if (info.rank >= info.world_size) {
    fail_input("{}: {}={} must be < {}={}", kWhere, rank, info.rank, world, info.world_size);
  }
  if (info.local_world_size < 1 || info.local_world_size > info.world_size) {
    fail_input("{}: {}={} must be between 1 and {}={}", kWhere, local_world, info.local_world_size, world,
               info.world_size);
  }
  if (info.local_rank >= info.local_world_size) {
    fail_input("{}: {}={} must be < {}={}", kWhere, local_rank, info.local_rank, local_world,
               info.local_world_size);
  }
}

// torchrun, or the same variables set by hand.
LaunchInfo from_torchrun_vars(const EnvLookup& env) {
  LaunchInfo info;
  info.launcher = "env";
  if (!get(env, "RANK")) fail_input("{}: WORLD_SIZE is set but RANK is not", kWhere);
  if (!get(env, "WORLD_SIZE")) fail_input("{}: RANK is set but WORLD_SIZE is not", kWhere);
  info.rank = integer_var(env, "RANK");
  info.world_size = integer_var(env, "WORLD_SIZE");
  bool has_local_rank = get(env, "LOCAL_RANK").has_value();
  if (!has_local_rank && get(env, "LOCAL_WORLD_SIZE")) {
    fail_input("{}: LOCAL_WORLD_SIZE is set but LOCAL_RANK is not", kWhere);
  }
  // Without LOCAL_RANK every rank is taken to be on this one node.
  info.local_rank = has_local_rank ? integer_var(env, "LOCAL_RANK") : info.rank;
  info.local_world_size = get(env, "LOCAL_WORLD_SIZE") ? integer_var(env, "LOCAL_WORLD_SIZE") : info.world_size;
  check_ranks(info, "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE");
  if (info.world_size > 1) {
    auto addr = get(env, "MASTER_ADDR");
    auto port = get(env, "MASTER_PORT");
    if (!addr) fail_input("{}: WORLD_SIZE={} but MASTER_ADDR is not set", kWhere, info.world_size);
    if (!port) fail_input("{}: WORLD_SIZE={} but MASTER_PORT is not set", kWhere, info.world_size);
    info.master_addr = *addr;
    info.master_port = port_var("MASTER_PORT", *port);
  }
  info.agent_store = env("TORCHELASTIC_USE_AGENT_STORE") == std::optional<std::string>("True");
  return info;
}

// SLURM_TASKS_PER_NODE's "8(x2),4" -> {8, 8, 4}.
std::vector<int> tasks_per_node(const std::string& name, const std::string& text) {
  std::vector<int> counts;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    std::size_t paren = item.find("(x");
    long count = parse_integer(name, item.substr(0, paren));
    long repeat = 1;
    if (paren != std::string::npos) {
      if (item.back() != ')') fail_input("{}: {}='{}' is malformed", kWhere, name, text);
      repeat = parse_integer(name, item.substr(paren + 2, item.size() - paren - 3));
    }
    if (count < 1 || repeat < 1 || repeat > 100'000) fail_input("{}: {}='{}' is malformed", kWhere, name, text);
    counts.insert(counts.end(), static_cast<std::size_t>(repeat), static_cast<int>(count));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return counts;
}

LaunchInfo from_slurm_vars(const EnvLookup& env) {
  LaunchInfo info;
  info.launcher = "slurm";
  info.rank = integer_var(env, "SLURM_PROCID");
  const char* ntasks = get(env, "SLURM_NTASKS") ? "SLURM_NTASKS" : "SLURM_NPROCS";
  if (!get(env, ntasks)) fail_input("{}: SLURM_PROCID is set but SLURM_NTASKS is not", kWhere);
  info.world_size = integer_var(env, ntasks);
  info.local_rank = get(env, "SLURM_LOCALID") ? integer_var(env, "SLURM_LOCALID") : 0;
  info.local_world_size = info.world_size;
  for (const char* name : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    auto text = get(env, name);
    if (!text) continue;
    auto counts = tasks_per_node(name, *text);
    int node = get(env, "SLURM_NODEID") ? integer_var(env, "SLURM_NODEID") : 0;
    if (node >= static_cast<int>(counts.size())) {
      fail_input("{}: SLURM_NODEID={} but {} lists {} nodes", kWhere, node, name, counts.size());
    }
    info.local_world_size = counts[static_cast<std::size_t>(node)];
    break;
  }
  check_ranks(info, "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_TASKS_PER_NODE");
  if (info.world_size > 1) {
    // MASTER_ADDR / MASTER_PORT exported by the batch script win over the derived ones.
    if (auto addr = get(env, "MASTER_ADDR")) {
      info.master_addr = *addr;
    } else {
      std::optional<std::string> nodes;
      for (const char* name : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"}) {
        if ((nodes = get(env, name))) break;
      }
      if (!nodes) fail_input("{}: SLURM_NTASKS={} but neither MASTER_ADDR nor SLURM_JOB_NODELIST is set", kWhere,
                             info.world_size);
      info.master_addr = expand_slurm_nodelist(*nodes).front();
    }
    if (auto port = get(env, "MASTER_PORT")) {
      info.master_port = port_var("MASTER_PORT", *port);
    } else {
      auto job = get(env, "SLURM_JOB_ID");
      if (!job) fail_input("{}: SLURM_NTASKS={} but neither MASTER_PORT nor SLURM_JOB_ID is set", kWhere,
                           info.world_size);
      info.master_port = slurm_master_port(*job);
    }
  }
  return info;
}

std::string pad(long number, std::size_t width) {
  std::string text = std::to_string(number);
  if (text.size() < width) text.insert(0, width - text.size(), '0');
  return text;
}

// "01-03,07" -> {"01", "02", "03", "07"}.
std::vector<std::string> expand_ranges(const std::string& list, const std::string& ranges) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    std::size_t comma = ranges.find(',', pos);
    std::string range = ranges.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    std::size_t dash = range.find('-');
    std::string lo = range.substr(0, dash), hi = dash == std::string::npos ? lo : range.substr(dash + 1);
    auto number = [&](const std::string& digits) {
      if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
        fail_input("{}: node list '{}': bad range '{}'", kWhere, list, range);
      }
      return std::stol(digits);
    };
    long first = number(lo), last = number(hi);
    if (last < first || last - first > 100'000) fail_input("{}: node list '{}': bad range '{}'", kWhere, list, range);
    for (long n = first; n <= last; ++n) out.push_back(pad(n, lo.size()));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (!value) return std::nullopt;
  return std::string(value);
}

LaunchInfo launch_info_from_env(const EnvLookup& env) {
  if (get(env, "RANK") || get(env, "WORLD_SIZE")) return from_torchrun_vars(env);
  if (get(env, "SLURM_PROCID")) return from_slurm_vars(env);
  return {};
}

std::vector<std::string> expand_slurm_nodelist(const std::string& list) {
  std::vector<std::string> hosts;
  std::vector<std::string> partial{""};  // the current name's expansions so far
  bool in_name = false;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    if (i == list.size() || list[i] == ',') {
      if (!in_name) fail_input("{}: node list '{}': empty host name", kWhere, list);
      hosts.insert(hosts.end(), partial.begin(), partial.end());
      partial = {""};
      in_name = false;
    } else if (list[i] == '[') {
      std::size_t close = list.find(']', i);
      if (close == std::string::npos) fail_input("{}: node list '{}': unclosed '['", kWhere, list);
      auto suffixes = expand_ranges(list, list.substr(i + 1, close - i - 1));
      std::vector<std::string> product;
      for (const auto& head : partial) {
        for (const auto& tail : suffixes) product.push_back(head + tail);
      }
      partial = std::move(product);
      in_name = true;
      i = close;
    } else if (list[i] == ']') {
      fail_input("{}: node list '{}': ']' without '['", kWhere, list);
    } else {
      for (auto& name : partial) name += list[i];
      in_name = true;
    }
    if (hosts.size() + partial.size() > 1'000'000) fail_input("{}: node list '{}' is too long", kWhere, list);
  }
  return hosts;
}

int slurm_master_port(const std::string& job_id) {
  if (job_id.empty() || job_id.find_first_not_of("0123456789") != std::string::npos) {
    fail_input("{}: SLURM_JOB_ID='{}' is not a number", kWhere, job_id);
  }
  std::string last4 = job_id.size() > 4 ? job_id.substr(job_id.size() - 4) : job_id;
  return 10000 + std::stoi(last4);
}

}  // namespace cotrain
