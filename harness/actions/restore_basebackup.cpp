#include "harness/actions/restore_basebackup.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>

#include <fmt/format.h>

#include "harness/actions/backup_repository.hpp"
#include "harness/actions/recovery_target.hpp"
#include "harness/services/pgbackrest.hpp"
#include "harness/services/postgres.hpp"

namespace firedrill {
namespace {

using std::chrono::milliseconds;

/// Where the backup's files wait in the fresh container until the prelude lays them down.
constexpr const char* staging = "/tmp/fd-restore";
constexpr const char* laid_down_line = "firedrill: base backup laid down";

// Runs as root before the server: waits for the harness to copy the files in, lays the base
// backup down as the data directory and asks for archive recovery.
std::string restore_prelude(const std::string& settings, const std::string& base_tar, const std::string& wal_tar) {
  return fmt::format(R"SH(while [ ! -f {0}/ready ]; do sleep 0.05; done
mkdir -p "$PGDATA"
find "$PGDATA" -mindepth 1 -delete
tar -xf '{3}' -C "$PGDATA"
if [ -n '{4}' ]; then tar -xf '{4}' -C "$PGDATA/pg_wal"; fi
cat >>"$PGDATA/postgresql.auto.conf" <<'FIREDRILL_RECOVERY'
{1}FIREDRILL_RECOVERY
touch "$PGDATA/recovery.signal"
chown -R postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"
rm -rf {0}
echo "{2}"
)SH",
                     staging, settings, laid_down_line, base_tar, wal_tar);
}

// The pgbackrest counterpart of restore_prelude: pgbackrest restores the set into the empty data
// directory and writes the recovery settings itself (restore_command = archive-get).
std::string pgbackrest_restore_prelude(const std::vector<std::string>& restore) {
  std::string command;
  for (const auto& argument : restore) {
    command += " '";
    for (char c : argument) command += c == '\'' ? std::string("'\\''") : std::string(1, c);
    command += "'";
  }
  return fmt::format(R"SH(while [ ! -f {0}/ready ]; do sleep 0.05; done
mkdir -p "$PGDATA"
find "$PGDATA" -mindepth 1 -delete
chown postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"
{1}
rm -rf {0}
echo "{2}"
)SH",
                     staging, command.substr(1), laid_down_line);
}

/// The arguments of `pgbackrest restore` of set `label` that stop where `target` says and promote.
std::vector<std::string> pgbackrest_restore_arguments(const std::string& label, const RecoveryTarget& target) {
  std::vector<std::string> arguments = {"--set=" + label};
  if (target.kind == RecoveryTarget::Kind::time) {
    // As recovery_target_time takes it: "2026-11-25 12:00:10.000000+00".
    std::string time = rfc3339(target.time);
    time[10] = ' ';
    time.replace(time.size() - 1, 1, "+00");
    arguments.insert(arguments.end(), {"--type=time", "--target=" + time});
  } else if (target.kind == RecoveryTarget::Kind::transaction) {
    arguments.insert(arguments.end(), {"--type=xid", "--target=" + std::to_string(target.xid)});
  }
  if (target.kind != RecoveryTarget::Kind::end_of_archive)
    arguments.insert(arguments.end(), {"--target-exclusive", "--target-action=promote"});
  arguments.push_back("restore");
  return arguments;
}

std::string json_text(const nlohmann::json& facts, const char* key) {
  return facts.contains(key) && facts[key].is_string() ? facts[key].get<std::string>() : std::string();
}

/// The rest of the log line after `marker`, or empty.
std::string after_marker(const std::string& logs, const std::string& marker) {
  const auto found = logs.rfind(marker);
  if (found == std::string::npos) return {};
  const auto start = found + marker.size();
  return without_trailing_newlines(logs.substr(start, logs.find('\n', start) - start));
}

/// What the server's FATAL lines say went wrong, in the terms of the drill.
std::string why_recovery_failed(const std::string& logs, const RecoveryTarget& target, const std::string& archive) {
  if (logs.find("recovery ended before configured recovery target was reached") != std::string::npos)
    return fmt::format("the WAL archive {} ends before the recovery target {}: the segments that would reach it were "
                       "never archived",
                       archive, target.description);
  if (logs.find("requested recovery stop point is before consistent recovery point") != std::string::npos)
    return fmt::format("the recovery target {} is before the base backup became consistent", target.description);
  return fmt::format("the restored server stopped during recovery: {}", tail_lines(logs, 5));
}

/// Fences the old server (read-only, its clients cut off) and has it archive the segment in
/// progress, so the archive holds everything it acknowledged. Returns what happened, for the record.
std::string fence_and_archive(ActionContext& context, const PostgresService& service, const std::string& target,
                              const std::function<bool(const std::string&)>& archived, Micros deadline) {
  if (!context.runtime.is_running(target)) return "not running";
  const ExecResult result = context.runtime.exec(
      target,
      {"psql", "-qtAX", "-U", service.user(), "-d", "postgres", "-c",
       "ALTER SYSTEM SET default_transaction_read_only = on", "-c", "SELECT pg_reload_conf()", "-c",
       "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> "
       "pg_backend_pid()",
       "-c", "SET default_transaction_read_only = off", "-c", "SELECT pg_walfile_name(pg_switch_wal() - 1)"},
      std::min(milliseconds(10000), time_left(context.clock, deadline)));
  if (result.exit_code != 0) return fmt::format("could not switch WAL: {}", tail_lines(result.output, 1));
  const std::string segment = without_trailing_newlines(tail_lines(without_trailing_newlines(result.output), 1));
  const Micros until = std::min(deadline, context.clock.now() + 10'000'000);
  while (!archived(segment)) {
    if (context.clock.now() >= until) return fmt::format("segment {} was not archived within 10 s", segment);
    context.clock.sleep_for(milliseconds(20));
  }
  return fmt::format("fenced; archived through {}", segment);
}

}  // namespace

std::filesystem::path find_base_backup(const std::filesystem::path& repository, const std::string& id,
                                       const std::string& service, const std::string& method,
                                       const std::vector<Event>& history) {
  if (id != "latest") return find_backup(repository, id, service);
  const auto counts = [&](const std::string& made_with) {
    return method.empty() ? made_with == "basebackup" || made_with == "pgbackrest" : made_with == method;
  };
  const std::string suffix = "Z-" + service;
  std::filesystem::path newest;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(repository, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(suffix) || (!newest.empty() && name < newest.filename().string())) continue;
    std::ifstream manifest(entry.path() / "manifest.json");
    if (!manifest) continue;
    const auto parsed = nlohmann::json::parse(manifest, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) continue;
    // Chosen by what the manifest claims, before it is authenticated: a claim changed to hide
    // the newest set is caught below (rollback) or by StagedBackup (the set chosen).
    if (counts(parsed.value("method", ""))) newest = entry.path();
  }
  const auto written = newest_written_backup(history, repository, service, counts);
  if (newest.empty() && written)
    throw ActionFailed(fmt::format("no {} backup of '{}' in {}, but this run wrote {} there: the repository was changed "
                                   "under the drill",
                                   method.empty() ? "base" : method, service, repository.string(), written->id));
  if (newest.empty())
    throw ActionFailed(fmt::format("no {} backup of '{}' in {}", method.empty() ? "base" : method, service, repository.string()));
  refuse_rolled_back(newest, written);
  return newest;
}

void await_log_milestones(Runtime& runtime, const Clock& clock, const std::string& service,
                          const std::vector<LogMilestone>& milestones, Micros deadline,
                          const std::function<void(const std::string& phase)>& passed,
                          const std::function<std::string(const std::string& logs)>& why_stopped) {
  // Enough lines to hold every milestone a poll can newly see: the server prints a few lines per
  // phase, and a later milestone in view passes the earlier ones anyway.
  constexpr int polled_lines = 200;
  std::size_t next = 0;
  while (next < milestones.size()) {
    const std::string tail = runtime.recent_logs(service, polled_lines);
    std::size_t seen = next;
    for (std::size_t later = next; later < milestones.size(); ++later)
      if (tail.find(milestones[later].line) != std::string::npos) seen = later + 1;
    if (seen > next) {
      for (; next < seen; ++next) passed(milestones[next].phase);
      continue;
    }
    if (!runtime.is_running(service)) throw ActionFailed(why_stopped(runtime.logs(service)));
    if (clock.now() >= deadline)
      throw ActionFailed(fmt::format("the restore of '{}' did not reach '{}' in time: {}", service, milestones[next].line,
                                     tail_lines(tail, 3)));
    clock.sleep_for(milliseconds(20));
  }
}

nlohmann::json restore_basebackup(ActionContext& context, const StepSpec& step, const std::filesystem::path& folder,
                                  Micros deadline) {
  const Micros started = context.clock.now();
  const std::string backup_id = folder.filename().string();
  const auto* service = dynamic_cast<const PostgresService*>(context.service(step.target));
  if (service == nullptr) throw ActionFailed(fmt::format("'{}' is not a postgres service of this scenario", step.target));
  const RecoveryTarget target =
      resolve_recovery_target(step.param_text("to"), step.param_text("before"), context.events.snapshot());
  std::string method = "basebackup";
  {
    std::ifstream in(folder / "manifest.json");
    const auto parsed = nlohmann::json::parse(in, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object() && parsed.value("method", "") == "pgbackrest") method = "pgbackrest";
  }
  const bool pgbackrest = method == "pgbackrest";
  context.events.record("restore.started", {{"backup_id", backup_id},
                                            {"service", step.target},
                                            {"method", method},
                                            {"target", target.description}});
  nlohmann::json phases = nlohmann::json::object();
  try {
    if (target.kind != RecoveryTarget::Kind::end_of_archive && target.time > context.clock.now())
      throw ActionFailed(fmt::format("the recovery target {} is in the future", target.description));
    const StagedBackup staged(folder, step.param_text("encrypt_key"), context.manifest_key_file, context.clock, phases,
                              context.journal_create);
    const auto& manifest = staged.manifest();
    if (manifest.value("method", "") != method)
      throw ActionFailed(fmt::format("backup {} was made with {}; a point-in-time restore needs a base backup", backup_id,
                                     manifest.value("method", "?")));
    const auto facts = manifest.value("postgres", nlohmann::json::object());
    // Whether the service archived its WAL when the backup was taken; where the archive is comes
    // from the scenario's service, never from the manifest.
    if (json_text(facts, "wal_archive").empty())
      throw ActionFailed(fmt::format("backup {} was taken while '{}' did not archive its WAL, so nothing after it can be "
                                     "replayed; take it with method basebackup in a scenario that archives",
                                     backup_id, step.target));
    const std::string backup_end = json_text(facts, "backup_end_at");
    if (target.kind != RecoveryTarget::Kind::end_of_archive && !backup_end.empty() && target.time < parse_rfc3339(backup_end))
      throw ActionFailed(fmt::format("the recovery target {} is before backup {} ended ({}); restore an older base backup "
                                     "to reach it",
                                     target.description, backup_id, backup_end));
    const auto repository = folder.parent_path();
    const auto mounted = service->spec().env.find(wal_archive_repository_env);
    if (!service->archives_wal() ||
        std::filesystem::weakly_canonical(mounted->second) != std::filesystem::weakly_canonical(repository))
      throw ActionFailed(fmt::format("'{}' does not archive its WAL into {}, where backup {} is", step.target,
                                     repository.string(), backup_id));
    // A base backup replays from whichever archive the service fills; a pgbackrest set needs
    // pgbackrest's.
    const bool pgbackrest_archive = service->archives_wal_with_pgbackrest();
    if (pgbackrest && !pgbackrest_archive)
      throw ActionFailed(fmt::format("backup {} was made with pgbackrest, but '{}' does not archive its WAL with it",
                                     backup_id, step.target));
    const std::string archive_folder =
        pgbackrest_archive ? pgbackrest_repository_folder(step.target) : wal_archive_folder(step.target);
    const auto archive = repository / archive_folder;
    const auto archived_segments = [&] {
      if (pgbackrest_archive) return pgbackrest_archived_segments(archive, step.target);
      std::vector<std::string> names;
      std::error_code error;
      for (const auto& entry : std::filesystem::directory_iterator(archive, error)) names.push_back(entry.path().filename().string());
      return names;
    };

    Micros phase_start = context.clock.now();
    const std::string fenced = fence_and_archive(
        context, *service, step.target,
        [&](const std::string& segment) {
          if (!pgbackrest_archive) return std::filesystem::exists(archive / (segment + ".gz"));
          const auto names = archived_segments();
          return std::find(names.begin(), names.end(), segment) != names.end();
        },
        deadline);
    const std::vector<std::string> archived = archived_segments();
    const std::string wal_end = json_text(facts, "wal_end_file");
    if (!wal_end.empty()) {
      const auto missing = missing_wal_segments(archived, next_wal_segment(wal_end));
      if (!missing.empty())
        throw ActionFailed(fmt::format("the WAL archive {} has a gap: {} segment(s) missing after backup {}, first {}; "
                                       "replay cannot pass it",
                                       archive.string(), missing.size(), backup_id, missing.front()));
    }
    phases["archive_seconds"] = seconds_between(phase_start, context.clock.now());

    phase_start = context.clock.now();
    const std::map<int, int> ports = context.runtime.inspect(step.target).host_ports;
    // A plaintext backup is read in place through the repository's mount; a decrypted one (in a
    // private staging directory of this machine) is copied in.
    std::map<std::string, std::string> in_container;
    std::vector<std::pair<std::filesystem::path, std::string>> to_copy;
    for (const auto& [name, path] : staged.files()) {
      if (name == "backup_manifest" || pgbackrest) continue;
      const auto relative = std::filesystem::weakly_canonical(path).lexically_relative(std::filesystem::weakly_canonical(repository));
      if (!relative.empty() && *relative.begin() != "..") {
        in_container[name] = std::string(repository_mount_path) + "/" + relative.string();
      } else {
        in_container[name] = std::string(staging) + "/" + name;
        to_copy.emplace_back(path, in_container[name]);
      }
    }
    if (!pgbackrest && !in_container.count("base.tar")) throw ActionFailed(fmt::format("backup {} has no base.tar", backup_id));
    for (const auto& [name, where] : in_container)
      if (where.find('\'') != std::string::npos) throw ActionFailed(fmt::format("cannot restore from a path with a quote: {}", where));
    const std::string restore_command =
        pgbackrest_archive
            ? fmt::format("pgbackrest --stanza={} archive-get %f \"%p\"", step.target)
            : fmt::format("[ -f {0}/%f.gz ] && gunzip -c {0}/%f.gz > %p", std::string(repository_mount_path) + "/" + archive_folder);
    const std::string label = json_text(facts, "label");
    if (pgbackrest && (label.empty() || !std::all_of(label.begin(), label.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
                       })))
      throw ActionFailed(fmt::format("backup {}: {} is not a pgbackrest set label", backup_id, nlohmann::json(label).dump()));
    const std::string prelude =
        pgbackrest ? pgbackrest_restore_prelude(pgbackrest_command(step.target, pgbackrest_restore_arguments(label, target)))
                   : restore_prelude(recovery_settings(target, restore_command), in_container.at("base.tar"),
                                     in_container.count("pg_wal.tar") ? in_container.at("pg_wal.tar") : "");
    ContainerSpec fresh = service->container_spec_with_prelude([](const std::string& text) { return text; }, prelude);
    fresh.host_ports = ports;
    try {
      storage(context.runtime).remove(step.target);
      context.runtime.start(fresh);
      phases["container_seconds"] = seconds_between(phase_start, context.clock.now());
      phase_start = context.clock.now();
      exec_checked(context.runtime, step.target, {"mkdir", "-p", staging}, time_left(context.clock, deadline), "mkdir");
      for (const auto& [path, where] : to_copy) file_access(context.runtime).copy_to(step.target, path, where);
      // pgbackrest fetches as it restores; what comes first is finding the set through the
      // repository's mount and reading its manifest there.
      if (pgbackrest)
        exec_checked(context.runtime, step.target, pgbackrest_command(step.target, {"--set=" + label, "info"}),
                     time_left(context.clock, deadline), "pgbackrest info of set " + label);
      exec_checked(context.runtime, step.target, {"touch", std::string(staging) + "/ready"}, time_left(context.clock, deadline),
                   "starting the restore");
    } catch (const EnvironmentError& failure) {
      throw ActionFailed(fmt::format("the fresh container of '{}' could not be prepared: {}", step.target, failure.what()));
    }
    phases["fetch_seconds"] = seconds_between(phase_start, context.clock.now());

    // The server's log says when each phase ends; polled, so each is known within 20 ms.
    phase_start = context.clock.now();
    await_log_milestones(
        context.runtime, context.clock, step.target,
        {{"restore_seconds", laid_down_line},
         {"replay_seconds", "archive recovery complete"},
         {"start_seconds", "database system is ready to accept connections"}},
        deadline,
        [&](const std::string& phase) {
          if (phase == "start_seconds") {
            try {
              service->wait_ready(context.runtime, context.runtime.inspect(step.target), time_left(context.clock, deadline));
            } catch (const EnvironmentError& failure) {
              throw ActionFailed(failure.what());
            }
          }
          phases[phase] = seconds_between(phase_start, context.clock.now());
          phase_start = context.clock.now();
        },
        [&](const std::string& logs) { return why_recovery_failed(logs, target, archive.string()); });

    // Read once, now that the server is up: where recovery stopped is in lines printed before.
    const std::string logs = context.runtime.logs(step.target);
    const std::string stopped_at = after_marker(logs, "recovery stopping before ");
    const std::string last_transaction = after_marker(logs, "last completed transaction was at log time ");
    const std::string timeline = after_marker(logs, "selected new timeline ID: ");
    const auto counts = postgres_row_counts(context.runtime, step.target, service->user(), service->database(),
                                            time_left(context.clock, deadline));
    phases["verify_seconds"] = seconds_between(phase_start, context.clock.now());
    phases["total_seconds"] = seconds_between(started, context.clock.now());
    nlohmann::json target_json = {{"description", target.description}};
    if (target.kind == RecoveryTarget::Kind::time) target_json["time"] = rfc3339(target.time);
    if (target.kind == RecoveryTarget::Kind::transaction) target_json["xid"] = target.xid;
    nlohmann::json details = {{"backup_id", backup_id},
                              {"method", method},
                              {"target", target_json},
                              {"old_server", fenced},
                              {"recovery_stopped", stopped_at.empty() ? "at the end of the archive" : "before " + stopped_at},
                              {"last_replayed_commit", last_transaction},
                              {"timeline", timeline},
                              {"row_counts", counts},
                              {"phases", phases}};
    context.events.record("restore.finished", {{"backup_id", backup_id},
                                               {"service", step.target},
                                               {"method", method},
                                               {"outcome", "ok"},
                                               {"target", target.description},
                                               {"recovery_stopped", details["recovery_stopped"]},
                                               {"phases", phases}});
    return details;
  } catch (const std::exception& failure) {
    phases["total_seconds"] = seconds_between(started, context.clock.now());
    context.events.record("restore.finished", {{"backup_id", backup_id},
                                               {"service", step.target},
                                               {"method", method},
                                               {"outcome", "failed"},
                                               {"error", failure.what()},
                                               {"phases", phases}});
    if (dynamic_cast<const ActionFailed*>(&failure) != nullptr) throw;
    throw ActionFailed(fmt::format("restoring base backup {} failed: {}", backup_id, failure.what()));
  }
}

}  // namespace firedrill
