#include "injectors/partition.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "injectors/netfilter.hpp"
#include "injectors/proxy/fault_proxy.hpp"

namespace firedrill {
namespace {

bool flag(const StepSpec& step, const std::string& name) {
  auto found = step.params.find(name);
  return found != step.params.end() && found->second.text == "true";
}

/// Where the services share this machine's network (the process runtime), a partition blackholes
/// the fault proxies on the paths it cuts: what is sent is held, as dropped packets are, and
/// delivered once it heals, as TCP retransmits would.
std::unique_ptr<ActiveFault> partition_through_proxies(FaultContext& context, const StepSpec& step) {
  std::vector<std::pair<std::pair<std::string, std::string>, Direction>> cut;
  nlohmann::json described;
  const auto paths = context.proxied_paths ? context.proxied_paths() : std::vector<std::pair<std::string, std::string>>{};
  if (step.params.count("isolate")) {
    const std::string service = step.params.at("isolate").text;
    if (flag(step, "include_clients"))
      throw EnvironmentError(fmt::format(
          "step '{}': the {} runtime cuts only the fault proxies between services, not the harness's own path "
          "(include_clients needs --runtime docker)",
          step.name, context.runtime.name()));
    for (const auto& path : paths)
      if (path.first == service || path.second == service) cut.push_back({path, Direction::both});
    described = {{"isolate", service}, {"include_clients", false}};
  } else {
    const auto& pair = step.params.at("between").items;
    const bool one_way = flag(step, "one_way");
    for (const auto& path : paths) {
      if (path.first == pair[0] && path.second == pair[1])
        cut.push_back({path, one_way ? Direction::upstream_only : Direction::both});
      if (path.first == pair[1] && path.second == pair[0])
        cut.push_back({path, one_way ? Direction::downstream_only : Direction::both});
    }
    described = {{"between", pair}, {"one_way", one_way}};
  }
  if (cut.empty())
    throw EnvironmentError(fmt::format(
        "step '{}': the {} runtime cuts services apart on the fault proxies between them, and none of the services "
        "it names reaches another through ${{peer.url}}, ${{peer.host}} or ${{peer.port}}",
        step.name, context.runtime.name()));
  // The proxies live in this process and end with it; the inverse only records that they existed.
  const std::string id = context.journal_inverse({{"type", "proxy"}, {"fault", "partition"}});
  std::vector<std::pair<FaultProxy*, ProxyFaults>> before;
  nlohmann::json cut_paths = nlohmann::json::array();
  for (const auto& [path, direction] : cut) {
    FaultProxy* proxy = context.proxy_between(path.first, path.second);
    if (proxy == nullptr) continue;
    ProxyFaults faults = proxy->faults();
    before.emplace_back(proxy, faults);
    faults.blackhole = true;
    faults.direction = direction;
    proxy->set_faults(faults);
    cut_paths.push_back(fmt::format("{}->{}", path.first, path.second));
  }
  described["via"] = "proxy";
  described["paths"] = cut_paths;
  return std::make_unique<JournalledFault>(
      context, id,
      [before] {
        for (const auto& [proxy, faults] : before) proxy->set_faults(faults);
      },
      std::move(described));
}

}  // namespace

VerbSpec PartitionInjector::spec() {
  return {"partition",
          "Drop the network traffic between services: `isolate` one from all others, or cut `between` two.",
          false,
          {{"isolate", ParamType::service, false, "cut this service from every other service of the run"},
           {"between", ParamType::service_list, false, "cut only these two services from each other"},
           {"one_way", ParamType::boolean, false, "with between [A, B]: drop A→B only; B→A still arrives"},
           {"include_clients", ParamType::boolean, false,
            "with isolate: also cut the harness's own path through the published ports (default false)"}},
          check_params};
}

void PartitionInjector::check_params(const StepSpec& step) {
  const bool isolate = step.params.count("isolate") != 0;
  const bool between = step.params.count("between") != 0;
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("step '{}': partition {}", step.name, why));
  };
  if (isolate == between) fail("needs exactly one of 'isolate: SERVICE' or 'between: [A, B]'");
  if (between) {
    const auto& pair = step.params.at("between").items;
    if (pair.size() != 2 || pair[0] == pair[1]) fail("'between' must name exactly two different services");
    if (step.params.count("include_clients")) fail("'include_clients' applies to 'isolate' only");
  }
  if (isolate && step.params.count("one_way")) fail("'one_way' applies to 'between' only");
}

std::unique_ptr<ActiveFault> PartitionInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  if (context.runtime.network_faults_through_proxies()) return partition_through_proxies(context, step);
  const netfilter::Rule drop{"-j", "DROP"};
  std::map<std::string, std::vector<netfilter::Rule>> rules;
  auto add_proxied = [&](const std::string& a, const std::string& b, netfilter::Directions directions) {
    for (auto& [service, extra] : netfilter::proxied_path_rules(context, a, b, directions, drop))
      rules[service].insert(rules[service].end(), extra.begin(), extra.end());
  };
  nlohmann::json described;
  if (step.params.count("isolate")) {
    const std::string service = step.params.at("isolate").text;
    const bool include_clients = flag(step, "include_clients");
    // Paths through a fault proxy reach the service from the gateway, which the rules below
    // leave alone for the harness's sake: they are cut first, by the proxy's port.
    for (const auto& peer : netfilter::proxied_peers(context, service)) add_proxied(service, peer, {});
    auto& own = rules[service];
    const auto view = netfilter::network_view(context.runtime, service);
    // Its own address is in the subnet too: talking to itself must keep working.
    own.push_back({"-s", view.address, "-d", view.address, "-j", "RETURN"});
    if (!include_clients) {
      own.push_back({"-s", view.gateway, "-j", "RETURN"});
      own.push_back({"-d", view.gateway, "-j", "RETURN"});
    }
    own.push_back({"-s", view.subnet, "-j", "DROP"});
    own.push_back({"-d", view.subnet, "-j", "DROP"});
    described = {{"isolate", service}, {"include_clients", include_clients}};
  } else {
    const auto& pair = step.params.at("between").items;
    const bool one_way = flag(step, "one_way");
    add_proxied(pair[0], pair[1], {true, !one_way});
    const std::string peer = netfilter::address_of(context.runtime, pair[1]);
    auto& own = rules[pair[0]];
    if (!one_way) own.push_back({"-s", peer, "-j", "DROP"});
    own.push_back({"-d", peer, "-j", "DROP"});
    described = {{"between", pair}, {"one_way", one_way}};
  }
  return netfilter::apply_chains(context, "partition", rules, std::move(described));
}

}  // namespace firedrill
