#include "harness/actions/verify_backup.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "harness/actions/backup_repository.hpp"
#include "harness/services/pgbackrest.hpp"
#include "harness/services/postgres.hpp"
#include "harness/services/registry.hpp"
#include "harness/services/service.hpp"

namespace firedrill {
namespace {

using std::chrono::milliseconds;

/// The image a scratch server of the target runs: the scenario's, never the manifest's (which
/// records what was backed up, in a repository the system under test may be able to write).
std::string scratch_image(ActionContext& context, const StepSpec& step, const std::string& fallback) {
  const Service* service = context.service(step.target);
  if (service != nullptr && !service->spec().image.empty()) return service->spec().image;
  return fallback;
}

/// A pgbackrest label as pgbackrest writes it (20261125-200440F, ..._20261125-201000D): it goes
/// into pgbackrest's arguments.
bool is_pgbackrest_label(const std::string& label) {
  return !label.empty() && label.size() < 64 && std::all_of(label.begin(), label.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
  });
}

/// The scratch container of a verification, removed however the verification ends.
class ScratchContainer {
 public:
  ScratchContainer(Runtime& runtime, std::string service) : runtime_(runtime), service_(std::move(service)) {}
  ScratchContainer(const ScratchContainer&) = delete;
  ScratchContainer& operator=(const ScratchContainer&) = delete;
  ~ScratchContainer() {
    try {
      storage(runtime_).remove(service_);
    } catch (const std::exception&) {
      // The run's teardown removes it with everything else of the run.
    }
  }
  const std::string& service() const { return service_; }

 private:
  Runtime& runtime_;
  std::string service_;
};

/// A started scratch service of the target's kind, ready to answer.
std::unique_ptr<Service> start_scratch(ActionContext& context, const ScratchContainer& scratch, ServiceSpec spec,
                                       Micros deadline) {
  spec.name = scratch.service();
  auto service = make_service(spec);
  try {
    const ContainerInfo info = context.runtime.start(service->container_spec([](const std::string& value) { return value; }));
    service->wait_ready(context.runtime, info, time_left(context.clock, deadline));
  } catch (const EnvironmentError& failure) {
    throw ActionFailed(fmt::format("the scratch container '{}' did not start: {}", scratch.service(), failure.what()));
  }
  return service;
}

/// pg_amcheck over the whole database when the image has it; what it found, or "unavailable".
std::string run_amcheck(ActionContext& context, const std::string& service, const std::string& user,
                        const std::string& database, Micros deadline) {
  if (context.runtime.exec(service, {"sh", "-c", "command -v pg_amcheck"}, time_left(context.clock, deadline)).exit_code != 0)
    return "unavailable";
  const ExecResult result = context.runtime.exec(
      service, {"pg_amcheck", "-U", user, "-d", database, "--install-missing", "--heapallindexed"}, time_left(context.clock, deadline));
  if (result.exit_code != 0)
    throw ActionFailed(fmt::format("pg_amcheck found corruption in the restored database: {}", tail_lines(result.output, 5)));
  return "ok";
}

nlohmann::json verify_pg_dump(ActionContext& context, const StepSpec& step, const ScratchContainer& scratch,
                              const nlohmann::json& manifest,
                              const std::map<std::string, std::filesystem::path>& staged, Micros deadline,
                              nlohmann::json& phases) {
  const auto facts = manifest.value("postgres", nlohmann::json::object());
  const std::string user = facts.value("user", "postgres");
  const std::string database = facts.value("database", user);
  Micros phase_start = context.clock.now();
  ServiceSpec spec;
  spec.kind = "postgres";
  spec.image = scratch_image(context, step, "");
  spec.env = {{"POSTGRES_USER", user}, {"POSTGRES_DB", database}};
  start_scratch(context, scratch, spec, deadline);
  const auto& dump = staged.begin()->second;
  try {
    file_access(context.runtime).copy_to(scratch.service(), dump, "/tmp/restore.dump");
  } catch (const EnvironmentError& failure) {
    throw ActionFailed(failure.what());
  }
  const ExecResult restored = context.runtime.exec(
      scratch.service(),
      {"pg_restore", "-U", user, "-d", database, "--no-owner", "--exit-on-error", "/tmp/restore.dump"},
      time_left(context.clock, deadline));
  if (restored.exit_code != 0)
    throw ActionFailed(fmt::format("{}: pg_restore failed: {}", staged.begin()->first, tail_lines(restored.output, 5)));
  phases["restore_seconds"] = seconds_between(phase_start, context.clock.now());

  phase_start = context.clock.now();
  const nlohmann::json counts = postgres_row_counts(context.runtime, scratch.service(), user, database, time_left(context.clock, deadline));
  const nlohmann::json expected = facts.value("row_counts", nlohmann::json::object());
  const auto differences = row_count_differences(expected, counts);
  if (!differences.empty())
    throw ActionFailed(fmt::format("the restored database differs from the source at backup time: {}",
                                   fmt::join(differences, "; ")));
  const std::string amcheck = run_amcheck(context, scratch.service(), user, database, deadline);
  phases["verify_seconds"] = seconds_between(phase_start, context.clock.now());
  return {{"tables", counts.size()}, {"row_counts", counts}, {"amcheck", amcheck}};
}

nlohmann::json verify_basebackup(ActionContext& context, const StepSpec& step, const ScratchContainer& scratch,
                                 const nlohmann::json& manifest,
                                 const std::map<std::string, std::filesystem::path>& staged, Micros deadline,
                                 nlohmann::json& phases) {
  const auto facts = manifest.value("postgres", nlohmann::json::object());
  const std::string user = facts.value("user", "postgres");
  const std::string database = facts.value("database", user);
  Micros phase_start = context.clock.now();
  ContainerSpec container;
  container.service = scratch.service();
  container.image = scratch_image(context, step, "firedrill/postgres:15");
  container.command = {"sleep", "infinity"};
  try {
    context.runtime.start(container);
    exec_checked(context.runtime, scratch.service(), {"mkdir", "-p", "/tmp/restore"}, time_left(context.clock, deadline), "mkdir");
    for (const auto& [name, path] : staged) file_access(context.runtime).copy_to(scratch.service(), path, "/tmp/restore/" + name);
  } catch (const EnvironmentError& failure) {
    throw ActionFailed(fmt::format("the scratch container '{}' could not be prepared: {}", scratch.service(), failure.what()));
  }
  exec_checked(context.runtime, scratch.service(),
               {"sh", "-c",
                "set -e; mkdir -p \"$PGDATA\"; tar -xf /tmp/restore/base.tar -C \"$PGDATA\"; "
                "if [ -f /tmp/restore/pg_wal.tar ]; then tar -xf /tmp/restore/pg_wal.tar -C \"$PGDATA/pg_wal\"; fi; "
                "chown -R postgres:postgres \"$PGDATA\" /tmp/restore; chmod 700 \"$PGDATA\""},
               time_left(context.clock, deadline), "unpacking the base backup");
  if (staged.count("backup_manifest") != 0) {
    exec_checked(context.runtime, scratch.service(),
                 {"sh", "-c",
                  "runuser -u postgres -- pg_verifybackup -m /tmp/restore/backup_manifest "
                  "--wal-directory=\"$PGDATA/pg_wal\" \"$PGDATA\""},
                 time_left(context.clock, deadline), "pg_verifybackup");
  }
  exec_checked(context.runtime, scratch.service(),
               {"sh", "-c",
                "runuser -u postgres -- pg_ctl -D \"$PGDATA\" -w -t 300 -l /tmp/restore/postgres.log "
                "-o \"-c listen_addresses=''\" start || { tail -n 20 /tmp/restore/postgres.log; exit 1; }"},
               time_left(context.clock, deadline), "starting postgres on the restored base backup");
  phases["restore_seconds"] = seconds_between(phase_start, context.clock.now());

  phase_start = context.clock.now();
  const nlohmann::json counts = postgres_row_counts(context.runtime, scratch.service(), user, database, time_left(context.clock, deadline));
  const std::string amcheck = run_amcheck(context, scratch.service(), user, database, deadline);
  phases["verify_seconds"] = seconds_between(phase_start, context.clock.now());
  return {{"tables", counts.size()}, {"row_counts", counts}, {"amcheck", amcheck}, {"pg_verifybackup", "ok"}};
}

// pgbackrest's own check of the repository (every file of the set and of the archive against
// its checksums), then the set restored into a scratch container that mounts the repository,
// recovered to the first consistent point, started and queried.
nlohmann::json verify_pgbackrest(ActionContext& context, const StepSpec& step, const ScratchContainer& scratch,
                                 const nlohmann::json& manifest, const std::filesystem::path& repository, Micros deadline,
                                 nlohmann::json& phases) {
  const auto facts = manifest.value("postgres", nlohmann::json::object());
  const std::string user = facts.value("user", "postgres");
  const std::string database = facts.value("database", user);
  // The stanza is the service's name, as firedrill configures it.
  const std::string& stanza = step.target;
  const std::string label = facts.value("label", "");
  if (!is_pgbackrest_label(label))
    throw ActionFailed(fmt::format("backup of '{}': {} is not a pgbackrest set label", stanza, nlohmann::json(label).dump()));
  constexpr const char* data = "/tmp/restore/data";
  Micros phase_start = context.clock.now();
  ContainerSpec container;
  container.service = scratch.service();
  container.image = scratch_image(context, step, "firedrill/postgres:15");
  container.command = {"sleep", "infinity"};
  container.host_directories.push_back({std::filesystem::absolute(repository), repository_mount_path});
  try {
    context.runtime.start(container);
  } catch (const EnvironmentError& failure) {
    throw ActionFailed(fmt::format("the scratch container '{}' could not be prepared: {}", scratch.service(), failure.what()));
  }
  exec_checked(context.runtime, scratch.service(),
               {"sh", "-c",
                std::string("mkdir -p /etc/pgbackrest /tmp/restore && printf '%s' \"$1\" > ") + pgbackrest_config_path +
                    " && chmod 644 " + pgbackrest_config_path + " && mkdir -p " + data +
                    " && chown -R postgres:postgres /tmp/restore && chmod 700 " + data,
                "sh", pgbackrest_config(stanza, user, data, repository_mount_path)},
               time_left(context.clock, deadline), "writing pgbackrest.conf");
  const ExecResult verified = context.runtime.exec(scratch.service(), pgbackrest_command(stanza, {"verify"}),
                                                   time_left(context.clock, deadline));
  // pgbackrest 2.45 exits 0 whatever it finds; its summary says "status: error" and which set
  // holds how many invalid files.
  if (verified.exit_code != 0 || verified.output.find("status: error") != std::string::npos ||
      verified.output.find(" ERROR: ") != std::string::npos ||
      verified.output.find("completed successfully") == std::string::npos)
    throw ActionFailed(fmt::format("pgbackrest verify rejects the repository of '{}': {}", stanza, tail_lines(verified.output, 4)));
  phases["pgbackrest_verify_seconds"] = seconds_between(phase_start, context.clock.now());

  phase_start = context.clock.now();
  exec_checked(context.runtime, scratch.service(),
               pgbackrest_command(stanza, {"--set=" + label, "--type=immediate", "--target-action=promote", "restore"}),
               time_left(context.clock, deadline), "pgbackrest restore of set " + label);
  exec_checked(context.runtime, scratch.service(),
               {"sh", "-c",
                std::string("runuser -u postgres -- pg_ctl -D ") + data + " -w -t 300 -l /tmp/restore/postgres.log " +
                    "-o \"-c listen_addresses='' -c archive_mode=off\" start || { tail -n 20 /tmp/restore/postgres.log; exit 1; }"},
               time_left(context.clock, deadline), "starting postgres on the restored pgbackrest set");
  // Started means consistent, not yet promoted; the counts need the end of recovery.
  const Micros until = std::min(deadline, context.clock.now() + 60'000'000);
  while (without_trailing_newlines(context.runtime
                                        .exec(scratch.service(), {"psql", "-qtAX", "-U", user, "-d", "postgres", "-c",
                                                                  "SELECT pg_is_in_recovery()"},
                                              time_left(context.clock, deadline))
                                        .output) != "f") {
    if (context.clock.now() >= until) throw ActionFailed(fmt::format("set {} restored but its recovery did not end", label));
    context.clock.sleep_for(milliseconds(50));
  }
  phases["restore_seconds"] = seconds_between(phase_start, context.clock.now());

  phase_start = context.clock.now();
  const nlohmann::json counts = postgres_row_counts(context.runtime, scratch.service(), user, database, time_left(context.clock, deadline));
  const std::string amcheck = run_amcheck(context, scratch.service(), user, database, deadline);
  phases["verify_seconds"] = seconds_between(phase_start, context.clock.now());
  return {{"tables", counts.size()}, {"row_counts", counts}, {"amcheck", amcheck}, {"pgbackrest_verify", "ok"}, {"label", label}};
}

nlohmann::json verify_rdb(ActionContext& context, const StepSpec& step, const ScratchContainer& scratch,
                          const nlohmann::json& manifest,
                          const std::map<std::string, std::filesystem::path>& staged, Micros deadline, nlohmann::json& phases) {
  const auto facts = manifest.value("redis", nlohmann::json::object());
  Micros phase_start = context.clock.now();
  ServiceSpec spec;
  spec.kind = "redis";
  spec.image = scratch_image(context, step, "");
  // No save points: stopping the scratch server must not overwrite the RDB it is about to load.
  spec.persistence = "none";
  auto service = start_scratch(context, scratch, spec, deadline);
  const auto& [name, rdb] = *staged.begin();
  try {
    file_access(context.runtime).copy_to(scratch.service(), rdb, "/data/dump.rdb");
  } catch (const EnvironmentError& failure) {
    throw ActionFailed(failure.what());
  }
  const ExecResult checked = context.runtime.exec(scratch.service(), {"redis-check-rdb", "/data/dump.rdb"}, time_left(context.clock, deadline));
  if (checked.exit_code != 0)
    throw ActionFailed(fmt::format("{}: redis-check-rdb rejects it: {}", name, tail_lines(checked.output, 3)));
  try {
    process_control(context.runtime).restart(scratch.service(), std::chrono::seconds(2));
    service->wait_ready(context.runtime, context.runtime.inspect(scratch.service()), time_left(context.clock, deadline));
  } catch (const EnvironmentError& failure) {
    throw ActionFailed(fmt::format("{}: redis did not start on it: {}", name, failure.what()));
  }
  phases["restore_seconds"] = seconds_between(phase_start, context.clock.now());

  phase_start = context.clock.now();
  const long long dbsize = std::stoll(redis_cli(context, scratch.service(), {"DBSIZE"}, deadline));
  const long long at_start = facts.value("dbsize_start", 0LL);
  const long long at_end = facts.value("dbsize_end", 0LL);
  // BGSAVE forks between the two DBSIZE readings, so the snapshot's size lies between them.
  if (dbsize < std::min(at_start, at_end) || dbsize > std::max(at_start, at_end))
    throw ActionFailed(fmt::format("{}: the restored server has {} keys; the source had {} to {} while it was saved",
                                   name, dbsize, at_start, at_end));
  std::vector<std::string> missing;
  for (const auto& sample : facts.value("sampled_keys", nlohmann::json::array())) {
    const std::string key = sample.value("key", "");
    const std::string type = redis_cli(context, scratch.service(), {"TYPE", key}, deadline);
    if (type != sample.value("type", "")) missing.push_back(fmt::format("{} ({} instead of {})", key, type, sample.value("type", "")));
  }
  if (!missing.empty())
    throw ActionFailed(fmt::format("{}: sampled keys differ after the restore: {}", name, fmt::join(missing, ", ")));
  phases["verify_seconds"] = seconds_between(phase_start, context.clock.now());
  return {{"dbsize", dbsize}, {"sampled_keys", facts.value("sampled_keys", nlohmann::json::array()).size()}};
}

}  // namespace

VerbSpec VerifyBackupAction::spec() {
  return {"verify-backup",
          "Check a backup of the target against its manifest, decrypt it and restore it into a scratch container.",
          true,
          {{"backup", ParamType::string, false, "backup id, or latest (the default): the newest backup of the target"},
           {"repository", ParamType::string, false, "host directory of the backup repository, default <run>/backups"},
           {"encrypt_key", ParamType::string, false, "key file of an encrypted backup (mode 0600)"}}};
}

nlohmann::json VerifyBackupAction::run(ActionContext& context, const StepSpec& step) {
  const Micros started = context.clock.now();
  const Micros deadline =
      started + std::chrono::duration_cast<std::chrono::microseconds>(step_timeout(step, std::chrono::minutes(30))).count();
  std::string wanted = step.param_text("backup");
  if (wanted.empty()) wanted = "latest";
  const auto folder = find_backup(backup_repository(context, step), wanted, step.target, context.events.snapshot());
  const std::string backup_id = folder.filename().string();
  context.events.record("backup.verify.started", {{"backup_id", backup_id}, {"service", step.target}});
  nlohmann::json phases = nlohmann::json::object();
  try {
    const StagedBackup staged_backup(folder, step.param_text("encrypt_key"), context.manifest_key_file, context.clock, phases,
                              context.journal_create);
    const nlohmann::json& manifest = staged_backup.manifest();
    const auto& staged = staged_backup.files();
    ScratchContainer scratch(context.runtime, step.target + "-verify");
    const std::string method = manifest.value("method", "");
    nlohmann::json checks;
    if (method == "pg_dump")
      checks = verify_pg_dump(context, step, scratch, manifest, staged, deadline, phases);
    else if (method == "basebackup")
      checks = verify_basebackup(context, step, scratch, manifest, staged, deadline, phases);
    else if (method == "pgbackrest")
      checks = verify_pgbackrest(context, step, scratch, manifest, folder.parent_path(), deadline, phases);
    else if (method == "rdb")
      checks = verify_rdb(context, step, scratch, manifest, staged, deadline, phases);
    else
      throw ActionFailed(fmt::format("backup {}: method '{}' cannot be verified", backup_id, method));
    phases["total_seconds"] = seconds_between(started, context.clock.now());
    context.events.record("backup.verify.finished",
                          {{"backup_id", backup_id}, {"service", step.target}, {"outcome", "ok"}, {"phases", phases}});
    return {{"backup_id", backup_id}, {"path", folder.string()}, {"method", method}, {"checks", checks}, {"phases", phases}};
  } catch (const std::exception& failure) {
    phases["total_seconds"] = seconds_between(started, context.clock.now());
    context.events.record("backup.verify.finished", {{"backup_id", backup_id},
                                                     {"service", step.target},
                                                     {"outcome", "failed"},
                                                     {"error", failure.what()},
                                                     {"phases", phases}});
    if (dynamic_cast<const ActionFailed*>(&failure) != nullptr) throw;
    throw ActionFailed(fmt::format("verifying backup {} failed: {}", backup_id, failure.what()));
  }
}

}  // namespace firedrill
