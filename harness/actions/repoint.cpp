#include "harness/actions/repoint.hpp"

#include <fmt/format.h>

#include "harness/services/service.hpp"
#include "injectors/hosts_file.hpp"
#include "injectors/injector.hpp"

namespace firedrill {
namespace {

constexpr auto exec_timeout = std::chrono::seconds(15);

bool resolves_to(Runtime& runtime, const std::string& client, const std::string& name, const std::string& address) {
  ExecResult resolved = runtime.exec(client, {"getent", "hosts", name}, exec_timeout);
  return resolved.exit_code == 0 && resolved.output.rfind(address + " ", 0) == 0;
}

const std::string& param(const StepSpec& step, const std::string& name) {
  auto found = step.params.find(name);
  if (found == step.params.end() || found->second.text.empty())
    throw ActionFailed(fmt::format("repoint needs '{}'", name));
  return found->second.text;
}

}  // namespace

VerbSpec RepointAction::spec() {
  return {"repoint",
          "Point a service's name at another service (the DNS switch of a failover): every other container "
          "resolves `service` to `to`'s address.",
          false,
          {{"service", ParamType::service, true, "the name that moves (e.g. db)"},
           {"to", ParamType::service, true, "the service that answers to it from now on (e.g. db-standby-1)"}},
          {},
          {},
          [](const StepSpec& step, const Scenario& scenario) {
            // Where services share this machine's hosts file, what moves is the proxy every
            // other service reaches the name through.
            StepPaths moved;
            for (const auto& other : scenario.services)
              if (other.name != step.param_text("to")) moved.paths.push_back({other.name, step.param_text("service")});
            return moved;
          }};
}

nlohmann::json RepointAction::run(ActionContext& context, const StepSpec& step) {
  const std::string& name = param(step, "service");
  const std::string& to = param(step, "to");
  if (name == to) throw ActionFailed(fmt::format("repoint '{}' to itself changes nothing", name));
  const Micros started = context.clock.now();
  if (takes_network_faults_on_proxies(context.runtime)) {
    // The services share this machine's network and its hosts file: what moves is the fault proxy
    // every client reaches `name` through.
    if (!context.repoint_proxies)
      throw ActionFailed(fmt::format("the {} runtime has no proxies in front of '{}' to repoint", context.runtime.name(), name));
    const auto moved = context.repoint_proxies(name, to);
    if (moved.empty()) throw ActionFailed(fmt::format("no service reaches '{}' through a proxy to repoint", name));
    nlohmann::json clients = nlohmann::json::array();
    for (const auto& client : moved) clients.push_back({{"service", client}, {"rewritten", true}, {"via", "proxy"}});
    const double seconds = static_cast<double>(context.clock.now() - started) / 1e6;
    nlohmann::json details = {{"service", name}, {"to", to}, {"clients", clients}, {"seconds", seconds}};
    context.events.record("repoint.completed", details);
    return details;
  }
  const std::string address = context.runtime.inspect(to).ip;
  if (address.empty())
    throw ActionFailed(fmt::format("the {} runtime gives '{}' no address to point '{}' at", context.runtime.name(), to, name));

  nlohmann::json clients = nlohmann::json::array();
  for (const auto& client : context.service_names) {
    if (client == name || client == to) continue;
    if (!context.runtime.is_running(client)) {
      clients.push_back({{"service", client}, {"rewritten", false}, {"reason", "not running"}});
      continue;
    }
    const std::vector<std::string> argv = hosts_file::replacing(name, address + "\t" + name);
    std::string via = "exec";
    ExecResult result = context.runtime.exec(client, argv, exec_timeout);
    if (result.exit_code != 0) {
      via = "network sidecar";
      try {
        result = network_namespaces(context.runtime).exec_in_network_namespace(client, argv, exec_timeout);
      } catch (const EnvironmentError& error) {
        throw ActionFailed(fmt::format("cannot rewrite the hosts file of '{}': {}", client, error.what()));
      }
    }
    if (result.exit_code != 0 || !resolves_to(context.runtime, client, name, address))
      throw ActionFailed(fmt::format("'{}' does not resolve '{}' to {} after the rewrite ({})", client, name, address,
                                     tail_lines(result.output, 2)));
    clients.push_back({{"service", client}, {"rewritten", true}, {"via", via}});
  }
  const double seconds = static_cast<double>(context.clock.now() - started) / 1e6;
  nlohmann::json details = {{"service", name}, {"to", to}, {"address", address}, {"clients", clients}, {"seconds", seconds}};
  context.events.record("repoint.completed", details);
  return details;
}

}  // namespace firedrill
