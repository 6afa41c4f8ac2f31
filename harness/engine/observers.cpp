#include "harness/engine/observers.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "checks/registry.hpp"
#include "clients/scalar_query.hpp"
#include "core/interrupt.hpp"
#include "core/utf8.hpp"
#include "harness/rehearse/operator.hpp"
#include "harness/services/sentinel.hpp"

namespace firedrill {

Observers::Observers(const Scenario& scenario, const DrillOptions& options, RunRecords& records,
                     const Environment& environment)
    : scenario_(scenario), options_(options), records_(records), environment_(environment) {}

void Observers::start() {
  std::vector<ProbeConfig> probes;
  for (const auto& spec : scenario_.probes) {
    ProbeConfig probe;
    probe.name = spec.name;
    probe.type = spec.type;
    probe.service = spec.service;
    probe.interval = spec.interval;
    if (spec.timeout) probe.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*spec.timeout);
    const auto& service = environment_.service(spec.service);
    const auto& info = environment_.containers().at(spec.service);
    if (service.container_port() > 0) probe.port = info.host_ports.at(service.container_port());
    if (!spec.path.empty()) probe.path = spec.path;
    probe.expect_status = spec.expect_status;
    if (!spec.query.empty()) probe.query = spec.query;
    probe.conninfo = service.harness_conninfo(info);
    if (spec.type == "redis") {
      probe.sentinel = sentinel_group(scenario_, spec.service, environment_.containers());
      probe.password = service.harness_password();
    }
    probes.push_back(probe);
  }
  scheduling_ = std::make_unique<SchedulingMonitor>(records_.events, records_.clock);
  scheduling_->start();
  prober_ = std::make_unique<Prober>(probes, records_.events, records_.clock);
  prober_->start();

  std::vector<WriterConfig> writers;
  for (const auto& spec : scenario_.workload) {
    WriterConfig writer = writer_of(spec);
    writer.rate_per_second = spec.rate_per_second;
    writer.concurrency = spec.concurrency;
    if (spec.timeout) writer.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*spec.timeout);
    writers.push_back(writer);
  }
  workload_ = std::make_unique<Workload>(writers, records_.acks, records_.events, records_.clock);
  // Faults are measured against a healthy baseline: every probe answers before the first step.
  std::vector<std::string> all_probes = probes_of("overall");
  auto deadline = records_.clock.now() + std::chrono::duration_cast<std::chrono::microseconds>(options_.ready_timeout).count();
  while (!prober_->all_up(all_probes)) {
    if (records_.clock.now() > deadline) throw EnvironmentError("the probes never all succeeded after bring-up");
    if (interrupted()) return;
    records_.clock.sleep_for(std::chrono::milliseconds(5));
  }
  workload_->start();
  records_.progress.set_status([this] {
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
      telemetry.events = records_.events.snapshot();
      return telemetry;
    });
}

WriterConfig Observers::address_of(const std::string& service) const {
  return environment_.service(service).workload_writer(environment_.containers().at(service),
                                                       sentinel_group(scenario_, service, environment_.containers()));
}

WriterConfig Observers::writer_of(const WorkloadSpec& spec) const {
  // The loader has made sure a writer without a contract goes through a service that implies one.
  const WriteRequestSpec request =
      spec.request ? *spec.request : environment_.service(spec.through).implied_write(spec.name).value();
  const std::string& at = request.kind == "sql" && !request.service.empty() ? request.service : spec.through;
  WriterConfig writer = address_of(at);
  writer.request = request;
  writer.name = spec.name;
  writer.id_prefix = records_.run_id;
  return writer;
}

ReadBackTarget Observers::read_back_target_of(const WorkloadSpec& spec) const {
  const ReadBackSpec read =
      spec.read_back ? *spec.read_back : environment_.service(spec.through).implied_read_back(spec.name).value();
  std::string at = read.service;
  if (at.empty()) {
    const bool sql_elsewhere = read.kind == "sql" && spec.request && spec.request->kind == "sql" &&
                               !spec.request->service.empty();
    at = sql_elsewhere ? spec.request->service : spec.through;
  }
  const WriterConfig address = address_of(at);
  return ReadBackTarget{read,         spec.name,        records_.run_id, address.host,
                        address.port, address.conninfo, address.sentinel, address.password};
}

void Observers::stop_writing() {
  if (workload_) workload_->stop();
}

void Observers::stop() {
  if (workload_) workload_->stop();
  if (prober_) prober_->stop();
  if (scheduling_) scheduling_->stop();
}

bool Observers::all_up(const std::vector<std::string>& probes) const { return prober_ && prober_->all_up(probes); }

std::vector<std::string> Observers::probes_of(const std::string& component) const {
  std::vector<std::string> names;
  for (const auto& probe : scenario_.probes)
    if (component == "overall" || probe.service == component) names.push_back(probe.name);
  return names;
}

bool Observers::await_recovered(const StepSpec& step, std::string& failure) {
  std::string component = step.target.empty() ? "overall" : step.target;
  auto probes = probes_of(component);
  Duration stable = step.stable.value_or(std::chrono::seconds(1));
  Duration timeout = step.timeout.value_or(std::chrono::seconds(120));
  Micros deadline = records_.clock.now() + timeout.count();
  bool serving = false;
  Micros up_since = 0;
  // Recovered means serving, not only answering probes (a full disk fails writes while every
  // read succeeds): with a workload, the stable window also needs writes acknowledged in it and
  // none failed.
  const bool judge_writes = workload_ && !scenario_.workload.empty();
  std::int64_t acked_at_start = 0, failed_at_start = 0;
  while (true) {
    if (interrupted()) return false;
    Micros now = records_.clock.now();
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
    records_.clock.sleep_for(std::chrono::milliseconds(5));
  }
}

Readback Observers::read_back() {
  Readback readback;
  // Only acknowledged writes can be lost; a failed one may carry an id the store could not even
  // parse (firedrill's, where the app names its writes itself).
  std::map<std::string, std::vector<std::string>> ids_of;
  for (const Ack& ack : records_.acks.snapshot())
    if (ack.outcome == WriteOutcome::ok) ids_of[ack.writer].push_back(ack.id);
  for (const auto& spec : scenario_.workload) {
    try {
      std::vector<std::string>& ids = ids_of[spec.name];
      std::vector<std::string> sorted = ids;
      std::sort(sorted.begin(), sorted.end());
      const auto repeated = static_cast<std::size_t>(sorted.end() - std::unique(sorted.begin(), sorted.end()));
      // One id for two acknowledged writes: finding it says nothing of the other.
      if (repeated > 0)
        throw std::runtime_error(fmt::format("{} acknowledged writes share an id with another: the ids the service "
                                             "gave cannot tell its writes apart",
                                             repeated));
      readback.writers[spec.name] = read_back_writes(read_back_target_of(spec), ids, records_.clock);
    } catch (const std::exception& error) {
      // The writes are then neither there nor lost: unknown, with the reason in the history.
      constexpr std::size_t longest_reason = 512;
      std::string why = records_.secrets.scrub(error.what());
      if (why.size() > longest_reason) why.resize(longest_reason);
      why = replace_invalid_utf8(why);
      records_.failures.push_back(fmt::format("could not read back the writes of '{}': {}", spec.name, why));
      records_.events.record("readback.failed", {{"writer", spec.name}, {"error", why}});
      readback.writers[spec.name].error = why;
      readback.writers[spec.name].t = records_.clock.now();
    }
  }
  write_readback(records_.run_dir / "readback.jsonl", readback);
  for (const auto& [writer, found] : readback.writers)
    if (found.error.empty())
      records_.events.record(event_kind::readback, {{"writer", writer}, {"present", found.present.size()}});
  return readback;
}

void Observers::gather_for_checks() {
  for (const auto& request : gatherings_of(scenario_)) {
    const Gathering& gathering = request.gathering;
    nlohmann::json details = {{"subject", request.subject}, {gathering.language, gathering.query}};
    if (gathering.language == "sql") {
      const auto& service = environment_.service(request.subject);
      auto value = run_scalar_query(service.harness_conninfo(environment_.containers().at(request.subject)), gathering.query);
      if (value.value) details["value"] = *value.value;
      if (!value.error.empty()) details["error"] = records_.secrets.scrub(value.error);
    } else {
      details["error"] = fmt::format("cannot gather a {} query", gathering.language);
    }
    records_.events.record(gathered_event_kind(gathering), details);
  }
}

}  // namespace firedrill
