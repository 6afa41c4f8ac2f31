#include "harness/actions/restore.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>

#include <fmt/format.h>

#include "harness/actions/backup_repository.hpp"
#include "harness/actions/recovery_target.hpp"
#include "harness/actions/restore_basebackup.hpp"
#include "harness/actions/restore_redis.hpp"
#include "harness/services/service.hpp"

namespace firedrill {
namespace {

using std::chrono::milliseconds;

/// The method a backup's manifest names; empty when it cannot be read (StagedBackup says why).
std::string backup_method(const std::filesystem::path& folder) {
  std::ifstream manifest(folder / "manifest.json");
  const auto parsed = nlohmann::json::parse(manifest, nullptr, false);
  return !parsed.is_discarded() && parsed.is_object() ? parsed.value("method", "") : "";
}

bool plain_identifier(const std::string& name) {
  return !name.empty() && name.size() < 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

}  // namespace

VerbSpec RestoreAction::spec() {
  return {"restore",
          "Restore a pg_dump backup into the target postgres (drop and recreate the database, pg_restore, check row "
          "counts), a base backup into a fresh container of it with WAL replay to a point in time, or an rdb backup into "
          "the target redis (stop it, lay the RDB down as its data and AOF base, start it).",
          true,
          {{"backup", ParamType::string, false, "backup id, or latest (the default): the newest backup of the target"},
           {"method", ParamType::string, false,
            "pg_dump, basebackup or pgbackrest (default: the backup's own; latest picks one of it)"},
           {"to", ParamType::string, false,
            "basebackup, pgbackrest: recover to this time: incident - 2s, incident + 1s or RFC 3339 (default: the end of the "
            "archive)"},
           {"before", ParamType::string, false,
            "basebackup, pgbackrest: recover to just before this step (its sql transaction, else its start)"},
           {"repository", ParamType::string, false, "host directory of the backup repository, default <run>/backups"},
           {"encrypt_key", ParamType::string, false, "key file of an encrypted backup (mode 0600)"},
           {"database", ParamType::string, false, "database to (re)create, default the one backed up"}},
          [](const StepSpec& step) {
            const std::string method = step.param_text("method");
            if (!method.empty() && method != "pg_dump" && method != "basebackup" && method != "pgbackrest")
              throw std::invalid_argument(fmt::format("restore method '{}' is not one of pg_dump, basebackup, pgbackrest", method));
            const bool point_in_time = step.params.count("to") != 0 || step.params.count("before") != 0;
            if (step.params.count("to") != 0 && step.params.count("before") != 0)
              throw std::invalid_argument("give either to or before, not both");
            if (point_in_time && method == "pg_dump")
              throw std::invalid_argument("a pg_dump backup cannot be restored to a point in time; use method: basebackup");
            if (step.params.count("to") != 0) check_recovery_target_text(step.param_text("to"));
          }};
}

nlohmann::json RestoreAction::run(ActionContext& context, const StepSpec& step) {
  const Micros started = context.clock.now();
  const Micros deadline =
      started + std::chrono::duration_cast<std::chrono::microseconds>(step_timeout(step, std::chrono::minutes(30))).count();
  const Service* service = context.service(step.target);
  const bool redis = service != nullptr && service->spec().kind == "redis";
  if (service == nullptr || (service->spec().kind != "postgres" && !redis))
    throw ActionFailed(fmt::format(
        "'{}' is not a postgres or redis service of this scenario; restore handles pg_dump and rdb backups", step.target));
  std::string wanted = step.param_text("backup");
  if (wanted.empty()) wanted = "latest";
  const std::string method = step.param_text("method");
  const bool point_in_time = !redis && (method == "basebackup" || method == "pgbackrest" || step.params.count("to") != 0 ||
                                         step.params.count("before") != 0);
  const auto history = context.events.snapshot();
  const auto folder = point_in_time
                          ? find_base_backup(backup_repository(context, step), wanted, step.target, method, history)
                          : find_backup(backup_repository(context, step), wanted, step.target, history);
  if (redis) return restore_redis(context, step, folder, deadline);
  if (point_in_time || backup_method(folder) == "basebackup" || backup_method(folder) == "pgbackrest")
    return restore_basebackup(context, step, folder, deadline);
  const std::string backup_id = folder.filename().string();
  context.events.record("restore.started", {{"backup_id", backup_id}, {"service", step.target}});
  nlohmann::json phases = nlohmann::json::object();
  const std::string container_file = "/tmp/fd-restore-" + backup_id + ".dump";
  try {
    const StagedBackup staged(folder, step.param_text("encrypt_key"), context.manifest_key_file, context.clock, phases,
                              context.journal_create);
    const auto& manifest = staged.manifest();
    if (manifest.value("method", "") != "pg_dump")
      throw ActionFailed(fmt::format("backup {} was made with {}; restore takes pg_dump backups", backup_id,
                                     manifest.value("method", "?")));
    const auto facts = manifest.value("postgres", nlohmann::json::object());
    const std::string user = facts.value("user", "postgres");
    std::string database = step.param_text("database");
    if (database.empty()) database = facts.value("database", user);
    if (!plain_identifier(database))
      throw ActionFailed(fmt::format("database name '{}' must be letters, digits and '_' only", database));
    // The drop must come from another database than the one dropped.
    const std::string maintenance = database == "postgres" ? "template1" : "postgres";

    Micros phase_start = context.clock.now();
    try {
      file_access(context.runtime).copy_to(step.target, staged.files().begin()->second, container_file);
    } catch (const EnvironmentError& failure) {
      throw ActionFailed(failure.what());
    }
    phases["copy_seconds"] = seconds_between(phase_start, context.clock.now());

    phase_start = context.clock.now();
    exec_checked(context.runtime, step.target,
                 {"psql", "-U", user, "-d", maintenance, "-v", "ON_ERROR_STOP=1", "-c",
                  fmt::format("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", database), "-c",
                  fmt::format("CREATE DATABASE \"{}\"", database)},
                 time_left(context.clock, deadline), "recreating database " + database);
    exec_checked(context.runtime, step.target,
                 {"pg_restore", "-U", user, "-d", database, "--no-owner", "--exit-on-error", container_file},
                 time_left(context.clock, deadline), "pg_restore");
    phases["restore_seconds"] = seconds_between(phase_start, context.clock.now());

    phase_start = context.clock.now();
    const auto counts = postgres_row_counts(context.runtime, step.target, user, database, time_left(context.clock, deadline));
    const auto differences = row_count_differences(facts.value("row_counts", nlohmann::json::object()), counts);
    if (!differences.empty())
      throw ActionFailed(fmt::format("the restored database differs from the backup: {}", fmt::join(differences, "; ")));
    phases["verify_seconds"] = seconds_between(phase_start, context.clock.now());
    context.runtime.exec(step.target, {"rm", "-f", container_file}, time_left(context.clock, deadline));
    phases["total_seconds"] = seconds_between(started, context.clock.now());
    context.events.record("restore.finished", {{"backup_id", backup_id},
                                               {"service", step.target},
                                               {"database", database},
                                               {"outcome", "ok"},
                                               {"phases", phases}});
    return {{"backup_id", backup_id}, {"database", database}, {"row_counts", counts}, {"phases", phases}};
  } catch (const std::exception& failure) {
    try {
      context.runtime.exec(step.target, {"rm", "-f", container_file}, milliseconds(10000));
    } catch (const std::exception&) {
      // The target may be what failed; its file goes with it.
    }
    phases["total_seconds"] = seconds_between(started, context.clock.now());
    context.events.record("restore.finished", {{"backup_id", backup_id},
                                               {"service", step.target},
                                               {"outcome", "failed"},
                                               {"error", failure.what()},
                                               {"phases", phases}});
    if (dynamic_cast<const ActionFailed*>(&failure) != nullptr) throw;
    throw ActionFailed(fmt::format("restoring backup {} failed: {}", backup_id, failure.what()));
  }
}

}  // namespace firedrill
