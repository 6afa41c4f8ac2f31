// `corrupt`'s parameters and its injection: the service stopped for its file to be still, the
// bytes changed and journalled, the service started again, and the revert. How each `what`
// finds its file (corrupt_target.cpp), and why those bytes:
// - relation: the table's main data file (pg_relation_filepath: its first 1 GB segment), any byte
//   of a page past its 24-byte header. Postgres runs with data checksums (the postgres kind asks
//   initdb for them; firedrill/postgres always has them), and a page's checksum covers all of it,
//   so the next read of that page fails with "invalid page in block N" after a "page verification
//   failed" warning. A CHECKPOINT runs first and Postgres is stopped with its fast shutdown (INT),
//   which writes every dirty page, so the file holds the rows and no crash recovery replays a
//   full-page image over the damage.
// - wal: the record of the latest checkpoint, in the segment that holds it (found from
//   global/pg_control once Postgres stopped). That record is the one WAL record Postgres must read
//   to start at all, whether for crash recovery or for a standby: a damaged one fails its CRC and
//   Postgres refuses to start ("could not locate a valid checkpoint record"). Damage to an older,
//   completed segment would go unnoticed until an archive replay or a lagging standby needed it,
//   and damage past the end of the WAL would look like the end of the WAL and be skipped.
// - rdb: Redis' `dir`/`dbfilename`, after Redis was stopped with TERM (which saves it anew). The
//   RDB ends with a CRC64, so Redis refuses to load the damaged file and does not start.
// - aof: the newest non-empty incremental AOF of Redis 7's manifest (else its base file; the
//   single appendonly file before Redis 7). The AOF has no checksum: a change to the protocol
//   makes Redis refuse to start, a change inside a value is loaded as different data.
// - backup: a file of the run's backup repository (<run directory>/backups), for drills that
//   validate backups; no service is involved.
// - file: `path` in the target's container, changed while the service runs.
// Reverting writes the old bytes back while the service runs: Postgres never admitted the
// damaged page to its buffers and Redis or Postgres that refused to start has nothing open. A
// service the fault stopped that is not running at revert (it refused to start) is started again.
#include "injectors/corrupt.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "clients/workload/implied_contracts.hpp"
#include "injectors/corrupt_target.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using corrupt::ByteChange;
using nlohmann::json;

const std::vector<std::string>& what_words() {
  static const std::vector<std::string> words{"relation", "wal", "rdb", "aof", "backup", "file"};
  return words;
}

std::uint64_t unsigned_param(const StepSpec& step, const std::string& name, std::uint64_t fallback) {
  return whole_number_param(step, name).value_or(fallback);
}

std::chrono::milliseconds grace_of(const StepSpec& step) {
  auto configured = step.params.find("grace");
  if (configured == step.params.end() || !configured->second.duration) return 30s;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*configured->second.duration);
}

struct StopPlan {
  std::string signal;
  std::string reason;
  std::string effect;
};

StopPlan stop_plan(const std::string& what) {
  if (what == "relation")
    return {"INT", "Postgres keeps pages in shared buffers and writes them back; the damaged page must be read from disk",
            "Postgres reports the damaged page (invalid page, checksum mismatch) when a query reads it"};
  if (what == "wal")
    return {"INT", "Postgres writes WAL while it runs and reads its checkpoint record when it starts",
            "Postgres refuses to start: it cannot read its latest checkpoint record"};
  if (what == "rdb")
    return {"TERM", "Redis rewrites its RDB file when it shuts down and reads it when it starts",
            "Redis refuses to load the damaged RDB file and does not start"};
  if (what == "aof")
    return {"TERM", "Redis appends to its AOF while it runs and replays it when it starts",
            "Redis refuses to start on a damaged command, or loads a changed value (the AOF has no checksum)"};
  return {};
}

/// Stops the service for the files to be still: `signal` (Postgres' fast shutdown, Redis' saving
/// shutdown), KILL after `grace`. Returns whether it had to be killed.
bool stop_gracefully(Runtime& runtime, const std::string& service, const std::string& signal,
                     std::chrono::milliseconds grace) {
  process_control(runtime).kill(service, signal);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (runtime.is_running(service)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      process_control(runtime).kill(service, "KILL");
      const auto killed_deadline = std::chrono::steady_clock::now() + 30s;
      while (runtime.is_running(service) && std::chrono::steady_clock::now() < killed_deadline)
        std::this_thread::sleep_for(20ms);
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

}  // namespace

VerbSpec CorruptInjector::spec() {
  VerbSpec spec{
      "corrupt",
      "Change bytes of a file the target relies on, at positions drawn from `seed`; the report lists each changed byte. "
      "relation/wal/rdb/aof stop the target while its file changes and start it again.",
      false,
      {{"what", ParamType::string, true, "relation | wal | rdb | aof | backup | file"},
       {"table", ParamType::string, false,
        fmt::format("relation: the table whose data file changes, default {}", sql_writes_table)},
       {"path", ParamType::string, false,
        "file: the path in the target's container; backup: a path in the run's backups/ (default the largest data file of the newest backup set)"},
       {"seed", ParamType::integer, false, "chooses the bytes and their new values, default 1"},
       {"bytes", ParamType::integer, false, "how many bytes change, default 16"},
       {"grace", ParamType::duration, false, "time between the graceful stop signal and KILL, default 30s"}}};
  spec.check_combination = [](const StepSpec& step) { check_params(step); };
  return spec;
}

void CorruptInjector::check_params(const StepSpec& step) {
  const std::string what = step.param_text("what");
  const auto& words = what_words();
  if (std::find(words.begin(), words.end(), what) == words.end())
    throw std::invalid_argument(fmt::format(
        "step '{}': corrupt 'what' must be one of relation, wal, rdb, aof, backup, file (got '{}')", step.name, what));
  if (what != "backup" && step.target.empty())
    throw std::invalid_argument(
        fmt::format("step '{}': corrupt what: {} needs a 'target' (the service whose file changes)", step.name, what));
  const bool has_path = step.params.count("path") != 0;
  if (what == "file" && (!has_path || !step.param_text("path").starts_with('/')))
    throw std::invalid_argument(
        fmt::format("step '{}': corrupt what: file needs 'path', an absolute path in the target's container", step.name));
  if (has_path && what != "file" && what != "backup")
    throw std::invalid_argument(fmt::format("step '{}': corrupt 'path' is for what: file or backup", step.name));
  if (what == "backup" && has_path) {
    const std::filesystem::path path(step.param_text("path"));
    const auto normal = path.lexically_normal();
    if (path.is_absolute() || normal.empty() || *normal.begin() == "..")
      throw std::invalid_argument(
          fmt::format("step '{}': corrupt 'path' for a backup must lie inside the run's backups/ folder", step.name));
  }
  if (step.params.count("table") && what != "relation")
    throw std::invalid_argument(fmt::format("step '{}': corrupt 'table' is for what: relation", step.name));
  unsigned_param(step, "seed", 1);
  const auto bytes = unsigned_param(step, "bytes", 16);
  if (bytes < 1 || bytes > 4096)
    throw std::invalid_argument(fmt::format("step '{}': corrupt 'bytes' must be from 1 to 4096", step.name));
}

std::unique_ptr<ActiveFault> CorruptInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  const std::string what = step.param_text("what");
  const std::uint64_t seed = unsigned_param(step, "seed", 1);
  const auto bytes = static_cast<std::size_t>(unsigned_param(step, "bytes", 16));
  const std::string& service = step.target;
  Runtime& runtime = context.runtime;
  const StopPlan plan = stop_plan(what);

  const ServiceFacts facts = ask_running_service(runtime, step, what);

  std::string start_journal_id;
  bool stopped = false;
  if (!plan.signal.empty() && runtime.is_running(service)) {
    start_journal_id = context.journal_inverse({{"type", "start"}, {"service", service}});
    const bool killed = stop_gracefully(runtime, service, plan.signal, grace_of(step));
    stopped = true;
    context.events.record("fault.corrupt.stopped_service", {{"service", service},
                                                            {"what", what},
                                                            {"signal", killed ? "KILL" : plan.signal},
                                                            {"why", plan.reason}});
  }
  const auto start_if_stopped = [&] {
    if (!stopped) return;
    if (!runtime.is_running(service)) process_control(runtime).start_again(service);
    context.mark_reverted(start_journal_id);
    context.events.record("fault.corrupt.started_service", {{"service", service}});
  };

  DamagedFile target;
  std::string corrupt_journal_id;
  std::vector<ByteChange> changes;
  try {
    try {
      target = locate(context, step, what, facts);
      changes = corrupt::read_changes(target.host_path, corrupt::plan_changes(target.regions, seed, bytes));
    } catch (const std::runtime_error& error) {
      // A host path alone does not say which of the service's files the step meant.
      const std::string file = !target.file.empty() ? target.file : what == "file" ? step.param_text("path") : "";
      if (file.empty() || std::string_view(error.what()).find(file) != std::string_view::npos) throw;
      const std::string message = fmt::format("{} of '{}': {}", file, service, error.what());
      if (dynamic_cast<const EnvironmentError*>(&error) != nullptr) throw EnvironmentError(message);
      throw std::runtime_error(message);
    }
    corrupt_journal_id = context.journal_inverse({{"type", "corrupt"},
                                                  {"service", service},
                                                  {"file", target.file},
                                                  {"host_path", target.host_path.shown().string()},
                                                  {"host_root", target.host_path.root.string()},
                                                  {"host_inside", target.host_path.inside.string()},
                                                  {"changes", corrupt::to_json(changes)},
                                                  {"start_service", stopped}});
    corrupt::write_changes(target.host_path, changes);
  } catch (...) {
    start_if_stopped();
    throw;
  }

  json description = {{"what", what},       {"file", target.file}, {"seed", seed},
                      {"changes", corrupt::to_json(changes)}, {"stopped_service", stopped}};
  if (!service.empty()) description["service"] = service;
  if (!plan.effect.empty()) description["effect"] = plan.effect;
  context.events.record("fault.corrupt.changed", description);
  start_if_stopped();

  auto undo = [&runtime, &events = context.events, host_path = target.host_path, file = target.file, changes, service,
               stopped] {
    const auto outcome = corrupt::restore(host_path, changes);
    events.record("fault.corrupt.reverted", {{"file", file}, {"outcome", corrupt::to_string(outcome)}});
    if (stopped && outcome != corrupt::RestoreOutcome::missing && !runtime.is_running(service))
      process_control(runtime).start_again(service);
  };
  return std::make_unique<JournalledFault>(context, corrupt_journal_id, std::move(undo), std::move(description));
}

void CorruptInjector::revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  corrupt::revert_inverse(runtime, inverse);
}

}  // namespace firedrill
