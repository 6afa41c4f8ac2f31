#include "harness/runtime/process/process_leftovers.hpp"

#include <chrono>

#include <fmt/format.h>

#include "harness/runtime/process/process_runtime.hpp"
#include "harness/runtime/process/service_cgroup.hpp"

namespace firedrill {

bool made_by_processes(const JournalState& run) { return journal_names(run, {"process", "cgroup"}); }

void release_process_run(const JournalState& run, CleanupReport& report) {
  if (uses_processes(run)) {
    ProcessRuntime runtime(run.run_dir.parent_path());
    runtime.begin_run(run.run_id, run.scenario, run.owner.value_or(Owner{}), {});
    try {
      runtime.teardown();
      report.notes.push_back(fmt::format("{}: stopped its processes", run.run_id));
    } catch (const std::exception& error) {
      report.errors.push_back(error.what());
    }
  }
  // A cgroup journalled before its service's pid file was written (a harness killed in between).
  for (const auto& [kind, name] : run.created) {
    if (kind != "cgroup") continue;
    const std::filesystem::path cgroup = name;
    if (!is_service_cgroup(cgroup) || cgroup.parent_path().filename() != run.run_id) {
      report.errors.push_back(fmt::format("cgroup {}: not one of run {}'s, left alone", name, run.run_id));
      continue;
    }
    if (!kill_service_cgroup(cgroup, std::chrono::seconds(5))) {
      report.errors.push_back(fmt::format("cgroup {}: processes still in it after SIGKILL", name));
      continue;
    }
    std::string error;
    if (!remove_service_cgroup(cgroup, error)) report.errors.push_back(error);
  }
}

}  // namespace firedrill
