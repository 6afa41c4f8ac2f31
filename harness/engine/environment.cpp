#include "harness/engine/environment.hpp"

#include <algorithm>
#include <fstream>
#include <future>
#include <set>

#include <fmt/format.h>

#include "core/interrupt.hpp"
#include "harness/actions/action.hpp"
#include "harness/services/registry.hpp"
#include "harness/services/sentinel.hpp"
#include "injectors/registry.hpp"

namespace firedrill {

Environment::Environment(const Scenario& scenario, Runtime& runtime, const DrillOptions& options, RunRecords& records)
    : scenario_(scenario), runtime_(runtime), options_(options), records_(records) {}

void Environment::bring_up() {
  runtime_.begin_run(records_.run_id, scenario_.name, Owner::self(),
                     [this](const std::string& kind, const std::string& name) { records_.journal.record_create(kind, name); });
  const Vocabulary steps{fault_specs(), action_specs(), {}};
  for (const auto& declared : scenario_.services) {
    ServiceSpec spec = prepared_for_run(scenario_, declared, records_.run_dir);
    // What a step needs of a service before it starts (a filesystem small enough to fill, say).
    for (const auto& step : scenario_.steps) {
      if (step.verb != StepVerb::fault && step.verb != StepVerb::action) continue;
      const auto& specs = step.verb == StepVerb::fault ? steps.faults : steps.actions;
      if (auto verb = specs.find(step.what); verb != specs.end() && verb->second.prepare_service)
        verb->second.prepare_service(step, spec);
    }
    auto service = make_service(spec);
    for (const auto& secret : service->secrets()) records_.secrets.add(secret);
    services_.emplace(spec.name, std::move(service));
  }
  proxied_paths_ = paths_needing_proxies(scenario_, steps, takes_network_faults_on_proxies(runtime_));

  for (const auto& level : start_levels()) {
    if (interrupted()) return;
    std::map<std::string, ContainerInfo> started;
    for (const ServiceSpec* spec : level) {
      records_.events.record("service.starting", {{"service", spec->name}, {"kind", spec->kind}});
      const Service& service = *services_.at(spec->name);
      started[spec->name] =
          service.start(runtime_, [this, spec](const std::string& text) { return resolve(spec->name, text); });
    }
    std::vector<std::future<void>> readiness;
    for (const ServiceSpec* spec : level)
      readiness.push_back(std::async(std::launch::async, [this, spec, &started] {
        services_.at(spec->name)->wait_ready(runtime_, started.at(spec->name),
                                                services_.at(spec->name)->start_timeout(options_.ready_timeout));
        records_.events.record("service.ready", {{"service", spec->name}});
        records_.progress.note(fmt::format("{} ready ({})", spec->name, spec->kind));
      }));
    // Every wait is joined before the first failure is rethrown: none may outlive this frame.
    std::exception_ptr failure;
    for (auto& ready : readiness) {
      try {
        ready.get();
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
    for (const ServiceSpec* spec : level) containers_[spec->name] = services_.at(spec->name)->inspect(runtime_);
  }
}

std::vector<std::vector<const ServiceSpec*>> Environment::start_levels() const {
  // A service starts after the services its env/command refer to (${db.url} → after db). Those
  // of one level start together and become ready in parallel, as a hand-written script would.
  std::vector<std::vector<const ServiceSpec*>> levels;
  std::set<std::string> placed;
  while (placed.size() < scenario_.services.size()) {
    std::vector<const ServiceSpec*> level;
    for (const auto& spec : scenario_.services) {
      if (placed.count(spec.name)) continue;
      bool ready = true;
      auto depends_on = [&](const std::string& text) {
        for (const auto& other : scenario_.services)
          if (other.name != spec.name && text.find("${" + other.name + ".") != std::string::npos && !placed.count(other.name))
            ready = false;
      };
      for (const auto& [key, value] : spec.env) depends_on(value);
      for (const auto& argument : spec.command) depends_on(argument);
      for (const auto& sentinel : sentinels_to_start_first(scenario_, spec))
        if (!placed.count(sentinel)) ready = false;
      if (ready) level.push_back(&spec);
    }
    if (level.empty()) throw EnvironmentError("services refer to each other in a cycle; cannot choose a start order");
    for (const ServiceSpec* spec : level) placed.insert(spec->name);
    levels.push_back(level);
  }
  return levels;
}

void Environment::rebuild_service(const std::string& name) {
  const Service& service = *services_.at(name);
  records_.events.record("service.starting", {{"service", name}, {"kind", service.spec().kind}, {"rebuild", true}});
  ContainerSpec spec = service.container_spec([this, &name](const std::string& text) { return resolve(name, text); });
  // Probes, writers and conninfos hold the ports of bring-up: the new container publishes on them.
  auto previous = containers_.find(name);
  if (previous != containers_.end()) spec.host_ports = previous->second.host_ports;
  service.wait_ready(runtime_, runtime_.start(spec), service.start_timeout(options_.ready_timeout));
  records_.events.record("service.ready", {{"service", name}, {"rebuild", true}});
  containers_[name] = runtime_.inspect(name);
}

std::string Environment::resolve(const std::string& viewer, const std::string& text) {
  // ${service.url|host|port|…} as seen from the viewer's container: the service itself, or the
  // fault proxy placed on the path between them.
  std::string resolved;
  std::size_t position = 0;
  while (true) {
    auto open = text.find("${", position);
    if (open == std::string::npos) break;
    auto close = text.find('}', open);
    if (close == std::string::npos) break;
    resolved += text.substr(position, open - position);
    std::string reference = text.substr(open + 2, close - open - 2);
    auto dot = reference.find('.');
    auto service = services_.find(reference.substr(0, dot));
    std::string field = dot == std::string::npos ? "" : reference.substr(dot + 1);
    if (service == services_.end()) {
      resolved += text.substr(open, close - open + 1);
    } else {
      auto [host, port] = runtime_.peer_address(service->first, service->second->container_port());
      if (const FaultProxy* proxy = place_proxy(viewer, service->first)) {
        host = containers_.at(service->first).gateway;
        port = proxy->port();
      }
      // A URL may name other services in turn (a Sentinel group's names its sentinels).
      if (field == "url") resolved += resolve(viewer, service->second->url_at(host, port));
      else resolved += service->second->reference(field, host, port).value_or("");
    }
    position = close + 1;
  }
  return resolved + text.substr(position);
}

FaultProxy* Environment::place_proxy(const std::string& client, const std::string& peer) {
  const NetworkPath path{client, peer};
  if (std::find(proxied_paths_.begin(), proxied_paths_.end(), path) == proxied_paths_.end()) return nullptr;
  auto existing = proxies_.find(path);
  if (existing != proxies_.end()) return existing->second.get();
  // The peer started in an earlier level (the client refers to it), so its address is known.
  const ContainerInfo& upstream = containers_.at(peer);
  if (upstream.gateway.empty() || upstream.ip.empty())
    throw EnvironmentError(fmt::format("cannot place the fault proxy between '{}' and '{}': the {} runtime gave '{}' no address",
                                       client, peer, runtime_.name(), peer));
  const int upstream_port = runtime_.peer_address(peer, services_.at(peer)->container_port()).port;
  auto proxy = std::make_unique<FaultProxy>(upstream.gateway, 0, upstream.ip, static_cast<std::uint16_t>(upstream_port));
  // On a bridge the proxy listens on an address of this machine, which every local user can
  // reach: only the client's own connections are proxied.
  if (auto* namespaces = runtime_.capability<NetworkNamespaces>())
    if (const std::string source = namespaces->source_address(client); !source.empty()) proxy->accept_only_from({source});
  proxy->on_first_refusal([events = &records_.events, client, peer](Refusal reason, const std::string& from) {
    events->record("proxy.refused", {{"client", client}, {"peer", peer}, {"reason", refusal_word(reason)}, {"from", from}});
  });
  proxy->start();
  records_.events.record("proxy.started", {{"client", client}, {"peer", peer},
                                    {"listen", fmt::format("{}:{}", upstream.gateway, proxy->port())},
                                    {"upstream", fmt::format("{}:{}", upstream.ip, upstream_port)}});
  return proxies_.emplace(path, std::move(proxy)).first->second.get();
}

std::vector<std::string> Environment::repoint_proxies(const std::string& name, const std::string& to) {
  const ContainerInfo target = runtime_.inspect(to);
  const auto& service = services_.at(to);
  const int port = runtime_.peer_address(to, service->container_port()).port;
  std::vector<std::string> clients;
  for (auto& [path, proxy] : proxies_) {
    if (path.peer != name || path.client == to) continue;
    proxy->set_upstream(target.ip, static_cast<std::uint16_t>(port));
    records_.events.record("proxy.repointed", {{"client", path.client}, {"peer", name}, {"upstream", fmt::format("{}:{}", target.ip, port)}});
    clients.push_back(path.client);
  }
  return clients;
}

void Environment::collect_logs() {
  for (const auto& [name, service] : services_) {
    // A service made of other services' containers (a Patroni cluster) has no log of its own.
    if (auto container = containers_.find(name); container != containers_.end() && container->second.id.empty()) continue;
    try {
      std::ofstream(records_.run_dir / "logs" / (name + ".log")) << records_.secrets.scrub(runtime_.logs(name));
    } catch (const std::exception& error) {
      records_.events.record("logs.failed", {{"service", name}, {"error", error.what()}});
    }
  }
}

FaultProxy* Environment::proxy_between(const std::string& client, const std::string& peer) const {
  auto found = proxies_.find(NetworkPath{client, peer});
  return found == proxies_.end() ? nullptr : found->second.get();
}

std::vector<NetworkPath> Environment::proxied_paths() const {
  std::vector<NetworkPath> paths;
  for (const auto& [path, proxy] : proxies_) paths.push_back(path);
  return paths;
}

const Service* Environment::find_service(const std::string& name) const {
  auto found = services_.find(name);
  return found == services_.end() ? nullptr : found->second.get();
}

std::vector<ServiceAccess> Environment::access() const {
  std::vector<ServiceAccess> access;
  for (const auto& spec : scenario_.services) {
    auto container = containers_.find(spec.name);
    if (container == containers_.end()) continue;
    const Service& service = *services_.at(spec.name);
    auto port = container->second.host_ports.find(service.container_port());
    access.push_back({spec.name, spec.kind, container->second.name, container->second.ip,
                      port == container->second.host_ports.end() ? 0 : port->second, service.harness_conninfo(container->second),
                      service.harness_password()});
  }
  return access;
}

nlohmann::json Environment::describe_services() const {
  nlohmann::json services = nlohmann::json::array();
  for (const auto& spec : scenario_.services) {
    auto container = containers_.find(spec.name);
    services.push_back({{"name", spec.name},
                        {"kind", spec.kind},
                        {"image", spec.image.empty() ? services_.at(spec.name)->container_spec([](const std::string& s) { return s; }).image
                                                     : spec.image},
                        {"image_id", container == containers_.end() ? "" : container->second.image_id},
                        {"endpoint", container == containers_.end() || container->second.host_ports.empty()
                                         ? ""
                                         : fmt::format("127.0.0.1:{}", container->second.host_ports.begin()->second)}});
    services_.at(spec.name)->add_details(services.back());
  }
  return services;
}

void Environment::tear_down() {
  runtime_.teardown();
  for (auto& [path, proxy] : proxies_) proxy->stop();
}

}  // namespace firedrill
