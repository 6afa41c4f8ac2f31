#include "harness/runtime/docker/host_firewall.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "harness/runtime/process/child_reaper.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {
namespace {

constexpr const char* iptables = "/usr/sbin/iptables";

struct Outcome {
  int exit_code = -1;
  std::string output;
};

/// Runs iptables with `arguments` (never a shell), its output collected, within 30 s.
Outcome run_iptables(const std::vector<std::string>& arguments) {
  std::vector<std::string> argv = {iptables, "-w", "5"};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  std::vector<char*> pointers;
  for (auto& argument : argv) pointers.push_back(argument.data());
  pointers.push_back(nullptr);
  int output[2];
  if (::pipe2(output, O_CLOEXEC) != 0) throw EnvironmentError(fmt::format("cannot run iptables: {}", std::strerror(errno)));
  const pid_t pid = fork_awaited_child();
  if (pid < 0) {
    ::close(output[0]);
    ::close(output[1]);
    throw EnvironmentError(fmt::format("cannot run iptables: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::dup2(output[1], STDOUT_FILENO);
    ::dup2(output[1], STDERR_FILENO);
    ::execv(iptables, pointers.data());
    ::_exit(127);
  }
  ::close(output[1]);
  Outcome outcome;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  char buffer[4096];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd ready{output[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) == 0) {
      ::kill(pid, SIGKILL);
      outcome.output += "\n(iptables did not finish within 30 s)";
      break;
    }
    const ssize_t got = ::read(output[0], buffer, sizeof buffer);
    if (got > 0) {
      if (outcome.output.size() < 65536) outcome.output.append(buffer, static_cast<std::size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    break;
  }
  ::close(output[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  forget_awaited_child(pid);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

std::string comment_of(const std::string& run_id) { return "firedrill-run:" + run_id; }

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// Docker's DOCKER-USER chain when the engine made one: Docker puts its jump to that chain first in
// FORWARD again whenever it creates a network, so a rule of FORWARD's own would end up behind
// Docker's. FORWARD itself on an engine that manages no iptables rules.
std::vector<std::string> chains_for_rules() {
  if (run_iptables({"-S", "DOCKER-USER"}).exit_code == 0) return {"DOCKER-USER", "FORWARD"};
  return {"FORWARD"};
}

}  // namespace

std::vector<std::string> egress_rule_spec(const std::string& subnet, const std::string& run_id) {
  return {"-s", subnet, "!", "-d", "198.18.0.0/15", "-m", "comment", "--comment", comment_of(run_id), "-j", "REJECT"};
}

bool is_run_subnet(const std::string& subnet) {
  const auto slash = subnet.find('/');
  if (slash == std::string::npos || subnet.substr(slash) != "/24") return false;
  in_addr address{};
  if (::inet_pton(AF_INET, subnet.substr(0, slash).c_str(), &address) != 1) return false;
  const uint32_t host_order = ntohl(address.s_addr);
  return (host_order & 0xFF) == 0 && (host_order & 0xFFFE0000u) == 0xC6120000u;  // 198.18.0.0/15
}

bool can_change_host_firewall() { return ::geteuid() == 0 && ::access(iptables, X_OK) == 0; }

void insert_egress_rule(const std::string& subnet, const std::string& run_id) {
  if (!is_run_subnet(subnet)) throw EnvironmentError(fmt::format("{} is not a run's subnet: no rule is made for it", subnet));
  const std::string chain = chains_for_rules().front();
  auto check = egress_rule_spec(subnet, run_id);
  check.insert(check.begin(), {"-C", chain});
  if (run_iptables(check).exit_code == 0) return;
  auto insert = egress_rule_spec(subnet, run_id);
  insert.insert(insert.begin(), {"-I", chain, "1"});
  const Outcome inserted = run_iptables(insert);
  if (inserted.exit_code != 0)
    throw EnvironmentError(fmt::format("cannot add the rule that keeps the run's containers on this machine "
                                       "(iptables -I {} -s {} ! -d 198.18.0.0/15 -j REJECT): {}",
                                       chain, subnet, first_line(inserted.output)));
}

bool delete_egress_rule(const std::string& subnet, const std::string& run_id) {
  if (!is_run_subnet(subnet)) throw EnvironmentError(fmt::format("{} is not a run's subnet: no rule of it is deleted", subnet));
  bool deleted = false;
  for (const auto& chain : chains_for_rules()) {
    auto remove = egress_rule_spec(subnet, run_id);
    remove.insert(remove.begin(), {"-D", chain});
    // One delete removes one copy; a rule inserted twice (two runs of the harness) goes too.
    for (int copies = 0; copies < 16; ++copies) {
      const Outcome outcome = run_iptables(remove);
      if (outcome.exit_code == 0) {
        deleted = true;
        continue;
      }
      // Exit code 1 with "does a matching rule exist": none is left in this chain.
      if (outcome.exit_code == 1) break;
      throw EnvironmentError(fmt::format("cannot delete the egress rule of {}: {}", subnet, first_line(outcome.output)));
    }
  }
  return deleted;
}

int delete_egress_rules_of(const std::string& run_id) {
  std::vector<std::string> subnets;
  const std::string comment = "\"" + comment_of(run_id) + "\"";
  for (const auto& chain : chains_for_rules()) {
    const Outcome listed = run_iptables({"-S", chain});
    if (listed.exit_code != 0) throw EnvironmentError(fmt::format("cannot list {}: {}", chain, first_line(listed.output)));
    std::size_t start = 0;
    while (start < listed.output.size()) {
      const std::size_t end = std::min(listed.output.find('\n', start), listed.output.size());
      const std::string line = listed.output.substr(start, end - start);
      start = end + 1;
      const auto source = line.find(" -s ");
      if (line.find(comment) == std::string::npos || source == std::string::npos) continue;
      const std::string subnet = line.substr(source + 4, line.find(' ', source + 4) - source - 4);
      if (is_run_subnet(subnet) && std::find(subnets.begin(), subnets.end(), subnet) == subnets.end())
        subnets.push_back(subnet);
    }
  }
  for (const auto& subnet : subnets) delete_egress_rule(subnet, run_id);
  return static_cast<int>(subnets.size());
}

int count_egress_rules(const std::string& run_id) {
  int count = 0;
  for (const auto& chain : chains_for_rules()) {
    const Outcome listed = run_iptables({"-S", chain});
    if (listed.exit_code != 0) throw EnvironmentError(fmt::format("cannot list {}: {}", chain, first_line(listed.output)));
    const std::string comment = comment_of(run_id);
    std::size_t at = 0;
    while ((at = listed.output.find(comment, at)) != std::string::npos) {
      ++count;
      at += comment.size();
    }
  }
  return count;
}

}  // namespace firedrill
