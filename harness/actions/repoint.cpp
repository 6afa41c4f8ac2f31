#include "harness/actions/repoint.hpp"

#include <set>

#include <fmt/format.h>

#include "harness/services/service.hpp"
#include "injectors/hosts_file.hpp"
#include "harness/runtime/runtime.hpp"

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
  const auto completed = [&context, started](nlohmann::json details) {
    details["seconds"] = static_cast<double>(context.clock.now() - started) / 1e6;
    context.events.record("repoint.completed", details);
    return details;
  };
  nlohmann::json clients = nlohmann::json::array();
  // Clients that reach `name` through a fault proxy (all of them where services share this
  // machine's network; those behind a latency `via: proxy` anywhere): what moves is the proxy.
  std::set<std::string> behind_proxy;
  if (context.repoint_proxies)
    for (const auto& client : context.repoint_proxies(name, to)) {
      behind_proxy.insert(client);
      clients.push_back({{"service", client}, {"rewritten", true}, {"via", "proxy"}});
    }
  // The others look the name up in hosts files of their own, which exist only where each service
  // has its own network namespace; elsewhere they share this machine's, which is not the drill's.
  if (!context.runtime.capability<NetworkNamespaces>()) {
    if (behind_proxy.empty()) {
      if (!context.repoint_proxies)
        throw ActionFailed(fmt::format("the {} runtime has no proxies in front of '{}' to repoint", context.runtime.name(), name));
      throw ActionFailed(fmt::format("no service reaches '{}' through a proxy to repoint", name));
    }
    return completed({{"service", name}, {"to", to}, {"clients", clients}});
  }
  const std::string address = context.runtime.inspect(to).ip;
  if (address.empty())
    throw ActionFailed(fmt::format("the {} runtime gives '{}' no address to point '{}' at", context.runtime.name(), to, name));

  for (const auto& client : context.service_names) {
    if (client == name || client == to || behind_proxy.count(client)) continue;
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
  return completed({{"service", name}, {"to", to}, {"address", address}, {"clients", clients}});
}

}  // namespace firedrill
