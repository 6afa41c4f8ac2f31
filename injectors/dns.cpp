#include "injectors/dns.hpp"

#include <arpa/inet.h>

#include <stdexcept>

#include <fmt/format.h>

#include "injectors/hosts_file.hpp"
#include "injectors/netfilter.hpp"

namespace firedrill {
namespace {

/// Where Docker's embedded resolver answers a container on a user-defined network.
constexpr const char* engine_resolver = "127.0.0.11";

std::string mode_of(const StepSpec& step) {
  const std::string mode = step.param_text("mode");
  return mode.empty() ? "fail" : mode;
}

/// Runs argv as root beside the service, in the network sidecar: a container joined to another's
/// network namespace shares its hosts file too, and the service itself may run as a user that
/// cannot write it.
ExecResult run_in(Runtime& runtime, const std::string& service, const std::vector<std::string>& argv,
                  const std::string& what) {
  ExecResult result = network_namespaces(runtime).exec_in_network_namespace(service, argv, fault_exec_timeout);
  if (result.exit_code != 0)
    throw EnvironmentError(fmt::format("cannot {} in '{}' (exit {}): {}", what, service, result.exit_code,
                                       tail_lines(result.output, 3)));
  return result;
}

}  // namespace

namespace dns {

std::string unused_address(const std::string& subnet) {
  const auto slash = subnet.find('/');
  in_addr address{};
  int prefix = -1;
  try {
    if (slash != std::string::npos) prefix = std::stoi(subnet.substr(slash + 1));
  } catch (const std::exception&) {
    prefix = -1;
  }
  if (slash == std::string::npos || prefix < 8 || prefix > 30 ||
      inet_pton(AF_INET, subnet.substr(0, slash).c_str(), &address) != 1)
    throw std::invalid_argument(fmt::format("'{}' is not an IPv4 subnet with a prefix from /8 to /30", subnet));
  const std::uint32_t mask = ~std::uint32_t{0} << (32 - prefix);
  const std::uint32_t last_host = (ntohl(address.s_addr) & mask) | (~mask - 1);
  in_addr chosen{htonl(last_host)};
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &chosen, text, sizeof text);
  return text;
}

void revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  const std::string service = inverse.at("service").get<std::string>();
  const std::string name = inverse.at("name").get<std::string>();
  // A container that is gone took its hosts file with it; its namespace's rule went too.
  if (!runtime.is_running(service)) return;
  run_in(runtime, service, hosts_file::replacing(name, inverse.value("lines", "")), "restore the hosts file");
  if (inverse.contains("chain")) netfilter::remove_chain(runtime, service, inverse.at("chain").get<std::string>());
}

}  // namespace dns

VerbSpec DnsInjector::spec() {
  return {"dns",
          "Make a service name (`host`) stop resolving for the target (`mode: fail`), or resolve to an address of the run "
          "where nothing listens (`mode: wrong`); connections it already holds stay up.",
          true,
          {{"host", ParamType::service, true, "the service name the target looks up (e.g. db)"},
           {"mode", ParamType::string, false, "fail | wrong (default fail)"}},
          check_params};
}

void DnsInjector::check_params(const StepSpec& step) {
  const std::string mode = mode_of(step);
  if (mode != "fail" && mode != "wrong")
    throw std::invalid_argument(fmt::format("step '{}': dns 'mode' must be fail or wrong, not '{}'", step.name, mode));
  if (step.param_text("host") == step.target)
    throw std::invalid_argument(fmt::format("step '{}': dns 'host' must be another service than the target", step.name));
}

std::unique_ptr<ActiveFault> DnsInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  Runtime& runtime = context.runtime;
  const std::string name = step.param_text("host");
  const std::string mode = mode_of(step);
  nlohmann::json inverse = {{"type", "dns"},
                            {"service", step.target},
                            {"name", name},
                            {"lines", run_in(runtime, step.target, hosts_file::lines_naming(name), "read the hosts file").output}};
  // Trailing newlines are the script's to write.
  std::string& lines = inverse["lines"].get_ref<std::string&>();
  while (!lines.empty() && lines.back() == '\n') lines.pop_back();
  nlohmann::json described = {{"host", name}, {"mode", mode}};
  std::string wrong;
  if (mode == "wrong") {
    wrong = dns::unused_address(netfilter::network_view(runtime, step.target).subnet);
    described["resolves_to"] = wrong;
  } else {
    inverse["chain"] = netfilter::new_chain_name();
    described["chain"] = inverse["chain"];
  }
  const std::string journal_id = context.journal_inverse(inverse);
  try {
    run_in(runtime, step.target, hosts_file::replacing(name, wrong.empty() ? "" : wrong + "\t" + name),
           "rewrite the hosts file");
    // Refused, not dropped: the lookup fails at once, as against a resolver that is down.
    if (inverse.contains("chain"))
      netfilter::install_chain(runtime, step.target, inverse["chain"].get<std::string>(),
                               {{"-d", engine_resolver, "-p", "udp", "-j", "REJECT"},
                                {"-d", engine_resolver, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"}});
  } catch (...) {
    try {
      dns::revert_inverse(runtime, inverse);
      context.mark_reverted(journal_id);
    } catch (const std::exception&) {
      // The inverse stays journalled: cleanup retries it, and removing the container undoes it.
    }
    throw;
  }
  return std::make_unique<JournalledFault>(
      context, journal_id, [&runtime, inverse] { dns::revert_inverse(runtime, inverse); }, std::move(described));
}

void DnsInjector::revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  dns::revert_inverse(runtime, inverse);
}

}  // namespace firedrill
