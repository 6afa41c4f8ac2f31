#include "harness/engine/drill.hpp"

#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "checks/evaluate.hpp"
#include "checks/history.hpp"
#include "clients/probes/prober.hpp"
#include "clients/probes/scheduling_monitor.hpp"
#include "clients/scalar_query.hpp"
#include "clients/workload/workload.hpp"
#include "core/interrupt.hpp"
#include "core/secrets.hpp"
#include "harness/actions/action.hpp"
#include "harness/rehearse/commands.hpp"
#include "harness/rehearse/operator.hpp"
#include "harness/rehearse/progress.hpp"
#include "harness/runtime/journal.hpp"
#include "harness/services/patroni.hpp"
#include "harness/services/postgres.hpp"
#include "harness/services/registry.hpp"
#include "harness/services/sentinel.hpp"
#include "harness/services/service.hpp"
#include "harness/services/standby.hpp"
#include "injectors/latency.hpp"
#include "injectors/proxy/fault_proxy.hpp"
#include "injectors/registry.hpp"
#include "reports/artifacts.hpp"
#include "reports/registry.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

constexpr auto interrupt_poll = std::chrono::milliseconds(10);

std::string random_hex(int bytes) {
  std::vector<unsigned char> buffer(static_cast<std::size_t>(bytes));
  if (RAND_bytes(buffer.data(), bytes) != 1) throw EnvironmentError("the system's random generator gave no bytes for a run id");
  std::string text;
  for (unsigned char byte : buffer) text += fmt::format("{:02x}", byte);
  return text;
}

std::vector<std::string> service_names_of(const Scenario& scenario) {
  std::vector<std::string> names;
  for (const auto& service : scenario.services) names.push_back(service.name);
  return names;
}

const char* verb_name(StepVerb verb) {
  switch (verb) {
    case StepVerb::wait: return "wait";
    case StepVerb::fault: return "fault";
    case StepVerb::action: return "action";
    case StepVerb::await: return "await";
    case StepVerb::manual: return "manual";
  }
  return "wait";
}

/// A fault the drill applied, with its timer when it reverts itself.
struct AppliedFault {
  std::string type;
  std::string target;
  std::string aimed_at;  // the service the step named: a cluster, when `target` is the member leading it
  std::string step;
  bool incident = false;
  Micros injected_at = 0;
  std::optional<Micros> reverted_at;
  std::unique_ptr<ActiveFault> fault;
  std::mutex mutex;
  std::thread timer;
  std::atomic<bool> timer_cancelled{false};  // teardown reverts it now rather than on time
};

class Drill {
 public:
  Drill(const Scenario& scenario, Runtime& runtime, const DrillOptions& options, const Clock& clock)
      : scenario_(scenario), runtime_(runtime), options_(options), clock_(clock) {}

  DrillResult run();

 private:
  void prepare_run_directory();
  void bring_up();
  void rebuild_service(const std::string& name);
  std::string resolve(const std::string& viewer, const std::string& text);
  FaultProxy* proxy_on_path(const std::string& client, const std::string& peer);
  /// Points the proxies placed in front of `name` at `to` (the repoint action where services meet
  /// through proxies); the clients behind them.
  std::vector<std::string> repoint_proxies(const std::string& name, const std::string& to);
  void start_observers();
  bool run_steps();
  bool run_step(std::size_t index, const StepSpec& step);
  nlohmann::json perform_by_hand(std::size_t index, const StepSpec& step, std::string& outcome);
  void inject(const StepSpec& step);
  void revert(AppliedFault& applied);
  void revert_all();
  std::string services_named_in(const StepSpec& step) const;
  void end_faults(const StepSpec& step, const std::vector<std::string>& types);
  bool await_recovered(const StepSpec& step, std::string& failure);
  bool sleep_interruptibly(Micros until);
  Readback read_back();
  void run_integrity_queries();
  void collect_logs();
  void tear_down();
  nlohmann::json build_report(const Evaluation& evaluation);
  std::vector<std::string> probes_of(const std::string& component) const;
  Duration tail_duration() const;

  const Scenario& scenario_;
  Runtime& runtime_;
  const DrillOptions& options_;
  const Clock& clock_;

  DrillResult result_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<AckLog> acks_;
  std::unique_ptr<Prober> prober_;
  std::unique_ptr<SchedulingMonitor> scheduling_;  // how late the harness itself wakes
  std::unique_ptr<Workload> workload_;
  std::unique_ptr<Progress> progress_;
  SecretScrubber secrets_;
  std::map<std::string, std::unique_ptr<Service>> services_;
  std::map<std::string, ContainerInfo> containers_;
  std::vector<std::unique_ptr<AppliedFault>> faults_;
  std::unique_ptr<FaultContext> fault_context_;
  std::vector<NetworkPath> proxied_paths_;
  std::map<NetworkPath, std::unique_ptr<FaultProxy>> proxies_;
  nlohmann::json steps_ = nlohmann::json::array();
  std::vector<std::string> failures_;
  Micros started_at_ = 0, bringup_done_at_ = 0, steps_done_at_ = 0, teardown_started_at_ = 0, finished_at_ = 0;
  bool torn_down_ = false;
};

void Drill::prepare_run_directory() {
  // Drills running at once share the out directory and may draw the same id in one second: an id
  // is taken by creating its directory, which only one of them can do.
  std::filesystem::create_directories(options_.out_dir);
  do {
    result_.run_id = new_run_id(clock_);
    result_.run_dir = options_.out_dir / result_.run_id;
  } while (!std::filesystem::create_directory(result_.run_dir));
  std::filesystem::create_directories(result_.run_dir / "logs");
  journal_ = std::make_unique<Journal>(result_.run_dir, result_.run_id, scenario_.name, Owner::self());
  // Secrets the scenario names in `env:` are known before the first event; the services add
  // theirs (generated passwords) as they are made.
  for (const auto& spec : scenario_.services)
    for (const auto& secret : secrets_in_env(spec.env)) secrets_.add(secret);
  events_ = std::make_unique<EventLog>(result_.run_dir / "events.jsonl", clock_, &secrets_);
  acks_ = std::make_unique<AckLog>(result_.run_dir / "acks.jsonl");
  progress_ = options_.human ? forward_progress(*options_.human)
                            : make_progress(options_.progress, scenario_, clock_, options_.progress_prefix);
  write_file_atomically(result_.run_dir / "junit.xml", render_unfinished_junit(scenario_.name, result_.run_id));
  fault_context_ = std::make_unique<FaultContext>(FaultContext{
      runtime_, *events_, [this](const nlohmann::json& inverse) { return journal_->record_inverse(inverse); },
      [this](const std::string& id) { journal_->mark_reverted(id); }, result_.run_dir,
      [this](const std::string& client, const std::string& peer) {
        auto found = proxies_.find(NetworkPath{client, peer});
        return found == proxies_.end() ? nullptr : found->second.get();
      },
      [this] {
        std::vector<NetworkPath> paths;
        for (const auto& [path, proxy] : proxies_) paths.push_back(path);
        return paths;
      }});
}

std::string Drill::resolve(const std::string& viewer, const std::string& text) {
  // ${service.url|host|port} as seen from the viewer's container: the service itself, or the
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
      if (const FaultProxy* proxy = proxy_on_path(viewer, service->first)) {
        host = containers_.at(service->first).gateway;
        port = proxy->port();
      }
      // A URL may name other services in turn (a Sentinel group's names its sentinels).
      if (field == "url") resolved += resolve(viewer, service->second->url_at(host, port));
      else if (field == "host") resolved += host;
      else resolved += std::to_string(port);
    }
    position = close + 1;
  }
  return resolved + text.substr(position);
}

FaultProxy* Drill::proxy_on_path(const std::string& client, const std::string& peer) {
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
  proxy->on_first_refusal([events = events_.get(), client, peer](Refusal reason, const std::string& from) {
    events->record("proxy.refused", {{"client", client}, {"peer", peer}, {"reason", refusal_word(reason)}, {"from", from}});
  });
  proxy->start();
  events_->record("proxy.started", {{"client", client}, {"peer", peer},
                                    {"listen", fmt::format("{}:{}", upstream.gateway, proxy->port())},
                                    {"upstream", fmt::format("{}:{}", upstream.ip, upstream_port)}});
  return proxies_.emplace(path, std::move(proxy)).first->second.get();
}

std::vector<std::string> Drill::repoint_proxies(const std::string& name, const std::string& to) {
  const ContainerInfo target = runtime_.inspect(to);
  const auto& service = services_.at(to);
  const int port = runtime_.peer_address(to, service->container_port()).port;
  std::vector<std::string> clients;
  for (auto& [path, proxy] : proxies_) {
    if (path.peer != name || path.client == to) continue;
    proxy->set_upstream(target.ip, static_cast<std::uint16_t>(port));
    events_->record("proxy.repointed", {{"client", path.client}, {"peer", name}, {"upstream", fmt::format("{}:{}", target.ip, port)}});
    clients.push_back(path.client);
  }
  return clients;
}

void Drill::bring_up() {
  runtime_.begin_run(result_.run_id, scenario_.name, Owner::self(),
                     [this](const std::string& kind, const std::string& name) { journal_->record_create(kind, name); });
  for (const auto& declared : scenario_.services) {
    ServiceSpec spec = declared;
    // A disk-full step needs a filesystem small enough to fill: its target gets one unless the
    // scenario sized it with `disk:`.
    const bool filled = std::any_of(scenario_.steps.begin(), scenario_.steps.end(), [&](const StepSpec& step) {
      return step.verb == StepVerb::fault && step.what == "disk-full" && step.target == spec.name;
    });
    if (filled && !spec.disk) spec.disk = std::uint64_t{128} << 20;
    // A base backup or a point-in-time restore of it needs its WAL archived from the start.
    if (auto repository = wal_archive_repository(scenario_, spec, result_.run_dir)) {
      spec.env[wal_archive_repository_env] = repository->string();
      if (archives_wal_with_pgbackrest(scenario_, spec)) spec.env[wal_archiver_env] = "pgbackrest";
    }
    auto service = make_service(spec);
    for (const auto& secret : service->secrets()) secrets_.add(secret);
    services_.emplace(spec.name, std::move(service));
  }
  proxied_paths_ = paths_needing_proxies(scenario_, Vocabulary{fault_specs(), action_specs(), {}},
                                         takes_network_faults_on_proxies(runtime_));

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

  for (const auto& level : levels) {
    if (interrupted()) return;
    std::map<std::string, ContainerInfo> started;
    for (const ServiceSpec* spec : level) {
      events_->record("service.starting", {{"service", spec->name}, {"kind", spec->kind}});
      const Service& service = *services_.at(spec->name);
      started[spec->name] =
          service.start(runtime_, [this, spec](const std::string& text) { return resolve(spec->name, text); });
    }
    std::vector<std::future<void>> readiness;
    for (const ServiceSpec* spec : level)
      readiness.push_back(std::async(std::launch::async, [this, spec, &started] {
        services_.at(spec->name)->wait_ready(runtime_, started.at(spec->name), options_.ready_timeout);
        events_->record("service.ready", {{"service", spec->name}});
        progress_->note(fmt::format("{} ready ({})", spec->name, spec->kind));
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

void Drill::rebuild_service(const std::string& name) {
  const Service& service = *services_.at(name);
  events_->record("service.starting", {{"service", name}, {"kind", service.spec().kind}, {"rebuild", true}});
  ContainerSpec spec = service.container_spec([this, &name](const std::string& text) { return resolve(name, text); });
  // Probes, writers and conninfos hold the ports of bring-up: the new container publishes on them.
  auto previous = containers_.find(name);
  if (previous != containers_.end()) spec.host_ports = previous->second.host_ports;
  service.wait_ready(runtime_, runtime_.start(spec), options_.ready_timeout);
  events_->record("service.ready", {{"service", name}, {"rebuild", true}});
  containers_[name] = runtime_.inspect(name);
}

void Drill::start_observers() {
  std::vector<ProbeConfig> probes;
  for (const auto& spec : scenario_.probes) {
    ProbeConfig probe;
    probe.name = spec.name;
    probe.type = spec.type;
    probe.service = spec.service;
    probe.interval = spec.interval;
    if (spec.timeout) probe.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*spec.timeout);
    const auto& service = *services_.at(spec.service);
    const auto& info = containers_.at(spec.service);
    if (service.container_port() > 0) probe.port = info.host_ports.at(service.container_port());
    if (!spec.path.empty()) probe.path = spec.path;
    if (!spec.query.empty()) probe.query = spec.query;
    probe.conninfo = service.harness_conninfo(info);
    if (spec.type == "redis") {
      probe.sentinel = sentinel_group(scenario_, spec.service, containers_);
      probe.password = service.harness_password();
    }
    probes.push_back(probe);
  }
  scheduling_ = std::make_unique<SchedulingMonitor>(*events_, clock_);
  scheduling_->start();
  prober_ = std::make_unique<Prober>(probes, *events_, clock_);
  prober_->start();

  std::vector<WriterConfig> writers;
  for (const auto& spec : scenario_.workload) {
    const auto& service = *services_.at(spec.through);
    const auto& info = containers_.at(spec.through);
    WriterConfig writer;
    writer.name = spec.name;
    writer.kind = service.spec().kind == "postgres" ? "sql" : service.spec().kind == "redis" ? "redis" : "http";
    writer.port = info.host_ports.at(service.container_port());
    writer.conninfo = service.harness_conninfo(info);
    writer.sentinel = sentinel_group(scenario_, spec.through, containers_);
    writer.password = service.harness_password();
    writer.rate_per_second = spec.rate_per_second;
    writer.concurrency = spec.concurrency;
    if (spec.timeout) writer.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*spec.timeout);
    writer.id_prefix = result_.run_id;
    writers.push_back(writer);
  }
  workload_ = std::make_unique<Workload>(writers, *acks_, *events_, clock_);
  // Faults are measured against a healthy baseline: every probe answers before the first step.
  std::vector<std::string> all_probes = probes_of("overall");
  auto deadline = clock_.now() + std::chrono::duration_cast<std::chrono::microseconds>(options_.ready_timeout).count();
  while (!prober_->all_up(all_probes)) {
    if (clock_.now() > deadline) throw EnvironmentError("the probes never all succeeded after bring-up");
    if (interrupted()) return;
    clock_.sleep_for(std::chrono::milliseconds(5));
  }
  workload_->start();
  progress_->set_status([this] {
    std::string states;
    for (const auto& [name, up] : prober_->state()) states += fmt::format("{}{} ", up ? "+" : "-", name);
    return fmt::format("{}| writes {} acked {} failed", states, workload_->acked(), workload_->failed());
  });
  if (options_.human)
    options_.human->observe([this] {
      Telemetry telemetry;
      for (const auto& [name, up] : prober_->state()) telemetry.probes.emplace_back(name, up);
      telemetry.acked = workload_->acked();
      telemetry.failed = workload_->failed();
      telemetry.events = events_->snapshot();
      return telemetry;
    });
}

std::vector<std::string> Drill::probes_of(const std::string& component) const {
  std::vector<std::string> names;
  for (const auto& probe : scenario_.probes)
    if (component == "overall" || probe.service == component) names.push_back(probe.name);
  return names;
}

bool Drill::sleep_interruptibly(Micros until) {
  while (clock_.now() < until) {
    if (interrupted()) return false;
    Micros slice = std::min<Micros>(until, clock_.now() + std::chrono::microseconds(interrupt_poll).count());
    clock_.sleep_until(slice);
  }
  return !interrupted();
}

void Drill::revert(AppliedFault& applied) {
  std::lock_guard lock(applied.mutex);
  if (applied.reverted_at) return;
  // Stamped like the injection: when it was asked for and when the runtime said it was done.
  const Micros requested_at = clock_.now();
  applied.fault->revert();
  const Micros returned_at = clock_.now();
  applied.reverted_at = returned_at;
  events_->record_at(returned_at, event_kind::fault_reverted,
                     {{"fault", applied.type}, {"target", applied.target}, {"step", applied.step},
                      {"requested_at", format_rfc3339_micros(requested_at)},
                      {"returned_at", format_rfc3339_micros(returned_at)}});
}

void Drill::inject(const StepSpec& step) {
  const auto& entry = fault_registry().at(step.what);
  auto injector = entry.make();
  if (const auto* ender = dynamic_cast<const EndsFaults*>(injector.get())) {
    end_faults(step, ender->fault_types());
    return;
  }
  // A fault aimed at a cluster hits the member leading it now (patroni.hpp).
  StepSpec aimed = step;
  if (auto service = services_.find(step.target); service != services_.end())
    aimed.target = service->second->fault_target(runtime_);
  auto applied = std::make_unique<AppliedFault>();
  applied->type = step.what;
  applied->target = step.target.empty() ? services_named_in(step) : aimed.target;
  applied->aimed_at = step.target;
  applied->step = step.name;
  applied->incident = step.incident;
  Micros requested_at = clock_.now();
  applied->fault = injector->inject(*fault_context_, aimed);
  Micros returned_at = clock_.now();
  applied->injected_at = injector->takes_effect() == TakesEffect::when_requested ? requested_at : returned_at;
  events_->record_at(applied->injected_at, event_kind::fault_injected,
                     {{"fault", step.what},
                      {"target", aimed.target},
                      {"aimed_at", step.target},
                      {"step", step.name},
                      {"incident", step.incident},
                      {"requested_at", format_rfc3339_micros(requested_at)},
                      {"returned_at", format_rfc3339_micros(returned_at)},
                      {"details", applied->fault->describe()}});
  if (step.incident)
    events_->record_at(applied->injected_at, event_kind::incident,
                       {{"step", step.name},
                        {"fault", step.what},
                        {"target", step.target},
                        {"requested_at", format_rfc3339_micros(requested_at)}});
  if (auto after = injector->revert_after(step)) {
    Micros deadline = applied->injected_at + after->count();
    AppliedFault* raw = applied.get();
    applied->timer = std::thread([this, raw, deadline] {
      // Sleeps in slices so an interrupt is seen, then exactly to the deadline.
      while (clock_.now() < deadline && !interrupted() && !raw->timer_cancelled)
        clock_.sleep_until(std::min<Micros>(deadline, clock_.now() + 10'000));
      if (interrupted() || raw->timer_cancelled) return;
      try {
        revert(*raw);
      } catch (const std::exception& error) {
        events_->record("fault.revert_failed", {{"fault", raw->type}, {"target", raw->target}, {"error", error.what()}});
      }
    });
  }
  faults_.push_back(std::move(applied));
}

void Drill::end_faults(const StepSpec& step, const std::vector<std::string>& types) {
  int ended = 0;
  for (auto it = faults_.rbegin(); it != faults_.rend(); ++it) {
    AppliedFault& applied = **it;
    if (std::find(types.begin(), types.end(), applied.type) == types.end()) continue;
    if (!step.target.empty()) {
      // A fault between services has them all as its target, comma-separated.
      std::string targets = "," + applied.target + ",";
      if (targets.find("," + step.target + ",") == std::string::npos && applied.aimed_at != step.target) continue;
    }
    {
      std::lock_guard lock(applied.mutex);
      if (applied.reverted_at) continue;
    }
    revert(applied);
    ++ended;
  }
  if (ended == 0)
    throw std::runtime_error(fmt::format("no {} is active{} to end", fmt::join(types, " or "),
                                         step.target.empty() ? "" : " on '" + step.target + "'"));
}

std::string Drill::services_named_in(const StepSpec& step) const {
  // A fault between services (partition's isolate/between) names them in its parameters.
  std::vector<std::string> named;
  for (const auto& [key, value] : step.params) {
    for (const auto& item : value.is_list ? value.items : std::vector<std::string>{value.text})
      if (services_.count(item) && std::find(named.begin(), named.end(), item) == named.end()) named.push_back(item);
  }
  return fmt::format("{}", fmt::join(named, ","));
}

void Drill::revert_all() {
  // The steps are over: a fault whose duration has not run out yet ends now, with the others.
  for (auto& applied : faults_) applied->timer_cancelled = true;
  for (auto& applied : faults_)
    if (applied->timer.joinable()) applied->timer.join();
  for (auto it = faults_.rbegin(); it != faults_.rend(); ++it) {
    try {
      revert(**it);
    } catch (const std::exception& error) {
      failures_.push_back(fmt::format("could not revert fault '{}' on '{}': {}", (*it)->type, (*it)->target, error.what()));
    }
  }
}

bool Drill::await_recovered(const StepSpec& step, std::string& failure) {
  std::string component = step.target.empty() ? "overall" : step.target;
  auto probes = probes_of(component);
  Duration stable = step.stable.value_or(std::chrono::seconds(1));
  Duration timeout = step.timeout.value_or(std::chrono::seconds(120));
  Micros deadline = clock_.now() + timeout.count();
  bool serving = false;
  Micros up_since = 0;
  // Recovered means serving, not only answering probes (a full disk fails writes while every
  // read succeeds): with a workload, the stable window also needs writes acknowledged in it and
  // none failed.
  const bool judge_writes = workload_ && !scenario_.workload.empty();
  std::int64_t acked_at_start = 0, failed_at_start = 0;
  while (true) {
    if (interrupted()) return false;
    Micros now = clock_.now();
    const std::int64_t acked = judge_writes ? workload_->acked() : 0;
    const std::int64_t failed = judge_writes ? workload_->failed() : 0;
    if (prober_->all_up(probes) && (!serving || failed == failed_at_start)) {
      if (!serving) {
        serving = true;
        up_since = now;
        acked_at_start = acked;
        failed_at_start = failed;
      }
      if (now - up_since >= stable.count() && (!judge_writes || acked > acked_at_start)) return true;
    } else {
      serving = false;
    }
    if (now > deadline) {
      std::vector<std::string> down;
      for (const auto& [name, up] : prober_->state())
        if (!up && std::find(probes.begin(), probes.end(), name) != probes.end()) down.push_back(name);
      failure = fmt::format("'{}' did not recover within {}s (still failing: {})", component,
                            static_cast<double>(timeout.count()) / 1e6, fmt::join(down, ", "));
      return false;
    }
    clock_.sleep_for(std::chrono::milliseconds(5));
  }
}

bool Drill::run_step(std::size_t index, const StepSpec& step) {
  Micros started = events_->record(event_kind::step_started,
                                   {{"step", step.name}, {"index", index}, {"verb", verb_name(step.verb)}});
  progress_->step(index, step);
  std::string outcome = "ok";
  std::string error;
  nlohmann::json details = nlohmann::json::object();
  nlohmann::json human;  // how a person did the step, in a rehearsal
  try {
    switch (step.verb) {
      case StepVerb::wait:
        if (!sleep_interruptibly(started + step.duration.value_or(Duration{0}).count())) outcome = "interrupted";
        break;
      case StepVerb::fault:
        inject(step);
        break;
      case StepVerb::action: {
        if (options_.human && !step.manual.empty() && !options_.auto_actions) {
          human = perform_by_hand(index, step, outcome);
          if (human.value("completed_by", "") != "firedrill") break;
        }
        ActionContext context{runtime_, *events_, clock_, result_.run_dir, [this](const std::string& name) -> const Service* {
                                auto found = services_.find(name);
                                return found == services_.end() ? nullptr : found->second.get();
                              }, service_names_of(scenario_), [this](const std::string& name) { rebuild_service(name); }};
        if (journal_)
          context.journal_create = [this](const std::string& kind, const std::string& name) { journal_->record_create(kind, name); };
        context.manifest_key_file = state_directory() / "backup-manifest.key";
        if (takes_network_faults_on_proxies(runtime_))
          context.repoint_proxies = [this](const std::string& name, const std::string& to) { return repoint_proxies(name, to); };
        details = action_registry().at(step.what).make()->run(context, step);
        // Only a destructive action (sql) may be the incident: T0 is when its step started.
        if (step.incident)
          events_->record_at(started, event_kind::incident, {{"step", step.name}, {"action", step.what}, {"target", step.target}});
        break;
      }
      case StepVerb::await:
        if (!await_recovered(step, error)) outcome = interrupted() ? "interrupted" : "failed";
        break;
      case StepVerb::manual:
        if (options_.human) {
          human = perform_by_hand(index, step, outcome);
          break;
        }
        // Manual steps are timed in `firedrill rehearse`; an unattended run records and skips them.
        outcome = "skipped";
        details = {{"instruction", step.what}};
        break;
    }
  } catch (const EnvironmentError&) {
    throw;
  } catch (const std::exception& failure) {
    outcome = "failed";
    error = secrets_.scrub(failure.what());
  }
  Micros finished = events_->record(event_kind::step_finished,
                                    {{"step", step.name}, {"index", index}, {"verb", verb_name(step.verb)},
                                     {"what", step.what}, {"target", step.target}, {"outcome", outcome}, {"error", error}});
  nlohmann::json record = {{"name", step.name},
                           {"verb", verb_name(step.verb)},
                           {"what", step.what},
                           {"target", step.target},
                           {"started_at", format_rfc3339_micros(started)},
                           {"finished_at", format_rfc3339_micros(finished)},
                           {"duration_seconds", seconds_between(started, finished)},
                           {"outcome", outcome}};
  if (!error.empty()) record["error"] = error;
  if (!details.empty()) record["details"] = details;
  if (!human.is_null()) {
    human["seconds"] = seconds_between(started, finished);
    if (step.budget) human["over_budget"] = finished - started > step.budget->count();
    record["human"] = human;
  }
  steps_.push_back(record);
  progress_->step_done(index, step, outcome, error);
  if (outcome == "failed") failures_.push_back(fmt::format("step '{}' failed: {}", step.name, error));
  return outcome == "ok" || outcome == "skipped";
}

nlohmann::json Drill::perform_by_hand(std::size_t index, const StepSpec& step, std::string& outcome) {
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
  // psql and redis-cli on the host read the passwords from here; the rehearsal command removes
  // these files at the end.
  const auto pgpass = std::filesystem::absolute(result_.run_dir / "rehearsal.pgpass");
  if (!std::filesystem::exists(pgpass)) write_pgpass(pgpass, access);
  HumanTask task = describe_human_step(step, index, scenario_.steps.size(), runtime_.name(), access, pgpass);
  if (step.until && !step.until->healthy.empty()) {
    task.condition = [this, probes = probes_of(step.until->healthy)] { return !probes.empty() && prober_->all_up(probes); };
  } else if (step.until) {
    auto found = std::find_if(access.begin(), access.end(), [&](const ServiceAccess& a) { return a.name == step.until->service; });
    task.condition = [conninfo = found == access.end() ? std::string() : found->conninfo, sql = step.until->sql] {
      auto answer = run_scalar_query(conninfo, sql);
      return answer.value && sql_value_is_true(*answer.value);
    };
  }
  const HumanVerdict verdict = options_.human->perform(task);
  if (verdict == HumanVerdict::skipped) outcome = "skipped";
  if (verdict == HumanVerdict::aborted) outcome = "interrupted";
  nlohmann::json human = {{"instruction", task.instruction}, {"completed_by", verdict_word(verdict)}};
  if (step.budget) human["budget_seconds"] = static_cast<double>(step.budget->count()) / 1e6;
  if (step.until) human["until"] = task.until;
  return human;
}

bool Drill::run_steps() {
  for (std::size_t i = 0; i < scenario_.steps.size(); ++i) {
    if (interrupted()) return false;
    if (!run_step(i, scenario_.steps[i])) {
      for (std::size_t rest = i + 1; rest < scenario_.steps.size(); ++rest)
        steps_.push_back({{"name", scenario_.steps[rest].name}, {"verb", verb_name(scenario_.steps[rest].verb)},
                          {"outcome", "not run"}});
      return false;
    }
  }
  // Keep observing for one stability window, so the write recovery can be judged on a full one.
  if (scenario_.steps.empty()) return true;
  return sleep_interruptibly(clock_.now() + tail_duration().count());
}

Duration Drill::tail_duration() const {
  Duration tail = std::chrono::seconds(1);
  for (const auto& step : scenario_.steps)
    if (step.verb == StepVerb::await && step.stable) tail = std::max(tail, *step.stable);
  return tail;
}

Readback Drill::read_back() {
  Readback readback;
  for (const auto& spec : scenario_.workload) {
    const auto& service = *services_.at(spec.through);
    const auto& info = containers_.at(spec.through);
    try {
      Readback one = service.spec().kind == "postgres"
                         ? read_back_sql(service.harness_conninfo(info), spec.name, clock_)
                     : service.spec().kind == "redis"
                         ? read_back_redis("127.0.0.1", info.host_ports.at(service.container_port()),
                                           sentinel_group(scenario_, spec.through, containers_),
                                           service.harness_password(), result_.run_id, spec.name, clock_)
                         : read_back_http("127.0.0.1", info.host_ports.at(service.container_port()), result_.run_id,
                                          {spec.name}, std::chrono::seconds(30), clock_);
      readback.writers.merge(one.writers);
    } catch (const std::exception& error) {
      failures_.push_back(fmt::format("could not read back the writes of '{}': {}", spec.name, secrets_.scrub(error.what())));
      events_->record("readback.failed", {{"writer", spec.name}, {"error", secrets_.scrub(error.what())}});
    }
  }
  write_readback(result_.run_dir / "readback.jsonl", readback);
  for (const auto& [writer, found] : readback.writers)
    events_->record(event_kind::readback, {{"writer", writer}, {"present", found.present.size()}});
  return readback;
}

void Drill::run_integrity_queries() {
  for (const auto& check : scenario_.checks) {
    auto sql = check.params.find("sql");
    if (sql == check.params.end()) continue;
    const auto& service = *services_.at(check.subject);
    auto value = run_scalar_query(service.harness_conninfo(containers_.at(check.subject)), sql->second.text);
    nlohmann::json details = {{"subject", check.subject}, {"sql", sql->second.text}};
    if (value.value) details["value"] = *value.value;
    if (!value.error.empty()) details["error"] = secrets_.scrub(value.error);
    events_->record("check.sql", details);
  }
}

void Drill::collect_logs() {
  for (const auto& [name, service] : services_) {
    // A service made of other services' containers (a Patroni cluster) has no log of its own.
    if (auto container = containers_.find(name); container != containers_.end() && container->second.id.empty()) continue;
    try {
      std::ofstream(result_.run_dir / "logs" / (name + ".log")) << secrets_.scrub(runtime_.logs(name));
    } catch (const std::exception& error) {
      events_->record("logs.failed", {{"service", name}, {"error", error.what()}});
    }
  }
}

void Drill::tear_down() {
  if (torn_down_) return;
  torn_down_ = true;
  teardown_started_at_ = clock_.now();
  if (progress_) progress_->set_status({});
  if (options_.human) options_.human->observe({});
  if (workload_) workload_->stop();
  if (prober_) prober_->stop();
  if (scheduling_) scheduling_->stop();
  revert_all();
  if (options_.keep) {
    journal_->mark_kept();
    progress_->note(fmt::format("--keep: the environment of run {} is left up; `firedrill down {}` removes it",
                                result_.run_id, result_.run_id));
    return;
  }
  try {
    runtime_.teardown();
    for (auto& [path, proxy] : proxies_) proxy->stop();
    journal_->finish();
  } catch (const std::exception& error) {
    failures_.push_back(fmt::format("teardown incomplete: {} (run `firedrill cleanup {}`)", error.what(), result_.run_id));
  }
}

DrillResult Drill::run() {
  started_at_ = clock_.now();
  prepare_run_directory();
  events_->record(event_kind::run_started, {{"run_id", result_.run_id}, {"scenario", scenario_.name},
                                            {"mode", options_.mode}});
  std::optional<Readback> readback;
  try {
    bring_up();
    if (!interrupted()) start_observers();
    bringup_done_at_ = clock_.now();
    if (!interrupted()) run_steps();
    steps_done_at_ = clock_.now();
    if (workload_) workload_->stop();
    if (!interrupted()) {
      revert_all();
      readback = read_back();
      run_integrity_queries();
    }
    collect_logs();
  } catch (const EnvironmentError& error) {
    result_.environment_error = secrets_.scrub(error.what());
    events_->record("environment.error", {{"error", result_.environment_error}});
    collect_logs();
  } catch (const std::exception& error) {
    // Whatever went wrong, the faults are reverted and the environment removed below.
    failures_.push_back(fmt::format("the drill stopped on an unexpected error: {}", secrets_.scrub(error.what())));
    events_->record("drill.error", {{"error", failures_.back()}});
    collect_logs();
  }
  tear_down();
  finished_at_ = clock_.now();
  events_->record(event_kind::run_finished, {{"run_id", result_.run_id}});
  progress_->finish();

  result_.interrupted = interrupted();
  auto evaluation = evaluate(scenario_, events_->snapshot(), acks_->snapshot(), readback);
  // The one sink every report format is rendered from (with the already scrubbed history).
  result_.report = secrets_.scrub_json(build_report(evaluation));
  write_report_files(result_.run_dir, result_.report);
  result_.passed = evaluation.passed && failures_.empty() && result_.environment_error.empty() && !result_.interrupted;
  // A drill expected to fail proves that a fault is caught: it succeeds when its verdict is
  // fail, and passing means the fault did not bite. Interruptions and environment errors are
  // never what a drill expects.
  const bool as_expected = result_.passed == (scenario_.expect != "fail");
  result_.exit_code = result_.interrupted                   ? 130
                      : !result_.environment_error.empty() ? 3
                      : as_expected                        ? 0
                                                           : 1;
  return result_;
}

nlohmann::json Drill::build_report(const Evaluation& evaluation) {
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& applied : faults_) {
    nlohmann::json fault = {{"type", applied->type},
                            {"target", applied->target},
                            {"step", applied->step},
                            {"incident", applied->incident},
                            {"injected_at", format_rfc3339_micros(applied->injected_at)},
                            {"reverted_at", applied->reverted_at ? nlohmann::json(format_rfc3339_micros(*applied->reverted_at))
                                                                 : nlohmann::json(nullptr)},
                            {"details", applied->fault->describe()}};
    faults.push_back(fault);
  }
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
    if (const auto* cluster = dynamic_cast<const PatroniClusterService*>(services_.at(spec.name).get()))
      services.back()["patroni"] = cluster->describe();
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  nlohmann::json failures = failures_;
  if (!result_.environment_error.empty()) failures.push_back(result_.environment_error);
  if (result_.interrupted) failures.push_back("interrupted by a signal; faults reverted and the environment torn down");
  for (const auto& failure : evaluation.failures) failures.push_back(failure);

  nlohmann::json report = {
      {"schema", "firedrill/report/v1"},
      {"run_id", result_.run_id},
      {"mode", options_.mode},
      {"scenario", {{"name", scenario_.name}, {"file", scenario_.file}, {"sha256", scenario_.sha256},
                    {"description", scenario_.description}, {"runbook", scenario_.runbook}, {"tags", scenario_.tags}}},
      {"verdict", evaluation.passed && failures.empty() ? "pass" : "fail"},
      {"reasons", failures},
      {"started_at", format_rfc3339_micros(started_at_)},
      {"finished_at", format_rfc3339_micros(finished_at_)},
      {"incident_at", evaluation.incident_at ? nlohmann::json(format_rfc3339_micros(*evaluation.incident_at))
                                             : nlohmann::json(nullptr)},
      {"measured", evaluation.measured},
      {"components", evaluation.components},
      {"checks", evaluation.checks},
      {"faults", faults},
      {"steps", steps_},
      {"harness",
       {{"bringup_seconds", bringup_done_at_ ? seconds_between(started_at_, bringup_done_at_) : 0.0},
        {"drill_seconds", steps_done_at_ && bringup_done_at_ ? seconds_between(bringup_done_at_, steps_done_at_) : 0.0},
        {"teardown_seconds", teardown_started_at_ ? seconds_between(teardown_started_at_, finished_at_) : 0.0}}},
      {"environment",
       {{"runtime", runtime_.name()},
        {"services", services},
        {"firedrill_version", FIREDRILL_VERSION},
        {"host", host}}},
  };
  if (scenario_.expect == "fail") report["expected"] = "fail";
  report["artifacts"] = artifact_digests(result_.run_dir, {"events.jsonl", "acks.jsonl", "readback.jsonl"});
  return report;
}

}  // namespace

std::string new_run_id(const Clock& clock) {
  std::time_t seconds = static_cast<std::time_t>(clock.now() / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  // 64 random bits: runs started in the same second by processes with different --out
  // directories (which share the engine's names) must not meet.
  return fmt::format("{}-{}", stamp, random_hex(8));
}

DrillResult run_drill(const Scenario& scenario, Runtime& runtime, const DrillOptions& options, const Clock& clock) {
  // Standbys become services of their own here (standby.hpp), so everything below sees them.
  const Scenario expanded = with_patroni_services(with_sentinel_services(with_standby_services(scenario)));
  Drill drill(expanded, runtime, options, clock);
  return drill.run();
}

}  // namespace firedrill
