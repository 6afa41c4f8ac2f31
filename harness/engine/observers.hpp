#pragma once
// What watches the system during a drill: the probes (is each service up?), the workload (are
// writes acknowledged?) and the harness's own scheduling delay, all recording into the run's
// history; then, after the steps, the read-back of what survived and the queries the checks
// need answered while the environment is still up.
#include <memory>
#include <string>
#include <vector>

#include "checks/history.hpp"
#include "clients/probes/prober.hpp"
#include "clients/probes/scheduling_monitor.hpp"
#include "clients/workload/read_back.hpp"
#include "clients/workload/workload.hpp"
#include "harness/engine/environment.hpp"
#include "harness/engine/run_records.hpp"

namespace firedrill {

class Observers {
 public:
  Observers(const Scenario& scenario, const DrillOptions& options, RunRecords& records, const Environment& environment);

  /// Starts the probes, waits until every one answers (the healthy baseline faults are measured
  /// against), then starts the workload. Throws EnvironmentError when the baseline never comes.
  void start();
  /// Stops the writers (the steps are over; what follows reads back).
  void stop_writing();
  /// Stops everything still running.
  void stop();

  /// The probes of a component (a service, or every probe for "overall").
  std::vector<std::string> probes_of(const std::string& component) const;
  bool all_up(const std::vector<std::string>& probes) const;
  /// An `await` step: the component serves (probes up, writes acknowledged and none failing) for
  /// the step's stable window before its timeout; false with the reason otherwise.
  bool await_recovered(const StepSpec& step, std::string& failure);

  /// What each writer's acknowledged writes left in the system, into <run>/readback.jsonl.
  Readback read_back();
  /// What the scenario's checks declare to gather (checks/registry.hpp, `gather`), each answered
  /// on its subject and recorded as a `check.<language>` event.
  void gather_for_checks();

 private:
  /// The writer of a workload: its contract as declared, else as its service implies
  /// (Service::implied_write), at the address of the service the contract reaches, named and with
  /// the run's id prefix.
  WriterConfig writer_of(const WorkloadSpec& spec) const;
  /// Where and how a writer's writes are read back, the same way.
  ReadBackTarget read_back_target_of(const WorkloadSpec& spec) const;
  /// The address of `service` as a writer or read-back reaches it.
  WriterConfig address_of(const std::string& service) const;
  const Scenario& scenario_;
  const DrillOptions& options_;
  RunRecords& records_;
  const Environment& environment_;
  std::unique_ptr<Prober> prober_;
  std::unique_ptr<SchedulingMonitor> scheduling_;  // how late the harness itself wakes
  std::unique_ptr<Workload> workload_;
};

}  // namespace firedrill
