#include "harness/actions/backup.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "core/utf8.hpp"
#include "harness/actions/backup_repository.hpp"
#include "harness/services/pgbackrest.hpp"
#include "harness/services/postgres.hpp"
#include "harness/services/service.hpp"

namespace firedrill {
namespace {

using std::chrono::milliseconds;

/// What a method leaves in the service's container: (path there, file name in the backup).
struct Produced {
  std::vector<std::pair<std::string, std::string>> files;
  std::string scratch;  // where the method writes in the container
  nlohmann::json facts = nlohmann::json::object();
  nlohmann::json tools = nlohmann::json::object();
  // A method whose files stay where it wrote them in the repository (pgbackrest): that folder,
  // relative to the repository, and the files' paths below it.
  std::string files_root;
  std::vector<std::string> files_in_place;
};

/// The files of a pgbackrest backup set and of the WAL segments it needs to be consistent,
/// relative to the stanza's repository folder.
std::vector<std::string> pgbackrest_set_files(const std::filesystem::path& stanza_repository, const std::string& stanza,
                                              const std::string& label, const std::string& wal_start,
                                              const std::string& wal_stop) {
  std::vector<std::string> files;
  const auto set = stanza_repository / "backup" / stanza / label;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(set))
    if (entry.is_regular_file()) files.push_back(entry.path().lexically_relative(stanza_repository).string());
  std::error_code error;
  for (const auto& archive_id : std::filesystem::directory_iterator(stanza_repository / "archive" / stanza, error)) {
    if (!archive_id.is_directory()) continue;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(archive_id.path())) {
      const std::string name = entry.path().filename().string();
      if (!entry.is_regular_file() || name.size() < 25 || name[24] != '-') continue;
      const std::string segment = name.substr(0, 24);
      if (segment >= wal_start && segment <= wal_stop) files.push_back(entry.path().lexically_relative(stanza_repository).string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// Writes pgbackrest.conf into the service's container and creates its stanza unless the
/// repository has it; true when it was created. Until then the server's archive-push fails and
/// its segments wait in pg_wal.
bool ensure_pgbackrest_stanza(ActionContext& context, const PostgresService& postgres,
                              const std::filesystem::path& repository, Micros deadline) {
  const std::string& target = postgres.spec().name;
  const std::string config = pgbackrest_config(target, postgres.user(), postgres.data_directory(), repository_mount_path);
  exec_checked(context.runtime, target,
               {"sh", "-c", std::string("mkdir -p /etc/pgbackrest && printf '%s' \"$1\" > ") + pgbackrest_config_path +
                                " && chmod 644 " + pgbackrest_config_path,
                "sh", config},
               time_left(context.clock, deadline), "writing pgbackrest.conf");
  if (std::filesystem::exists(repository / pgbackrest_repository_folder(target) / "backup" / target / "backup.info"))
    return false;
  exec_checked(context.runtime, target, pgbackrest_command(target, {"stanza-create"}), time_left(context.clock, deadline),
               "pgbackrest stanza-create");
  return true;
}

/// A full backup by pgbackrest into the service's stanza, whose repository is inside the backup
/// repository; the stanza is created by the first one.
Produced backup_pgbackrest(ActionContext& context, const Service& service, const std::string& target,
                           const std::filesystem::path& repository, Micros deadline) {
  const auto* postgres = dynamic_cast<const PostgresService*>(&service);
  if (postgres == nullptr || !postgres->archives_wal_with_pgbackrest())
    throw ActionFailed(fmt::format("'{}' does not archive its WAL with pgbackrest, which a pgbackrest backup needs", target));
  const auto mounted = postgres->spec().env.find(wal_archive_repository_env);
  if (std::filesystem::weakly_canonical(mounted->second) != std::filesystem::weakly_canonical(repository))
    throw ActionFailed(fmt::format("'{}' archives its WAL into {}, not into {}: give both steps the same repository",
                                   target, mounted->second, repository.string()));
  Runtime& runtime = context.runtime;
  const std::string stanza = target;
  Produced produced;
  produced.files_root = pgbackrest_repository_folder(target);
  const auto stanza_repository = repository / produced.files_root;
  produced.tools["pgbackrest"] = without_trailing_newlines(
      exec_checked(runtime, target, {"pgbackrest", "version"}, time_left(context.clock, deadline), "pgbackrest version"));
  if (ensure_pgbackrest_stanza(context, *postgres, repository, deadline)) produced.facts["stanza_created"] = true;
  exec_checked(runtime, target, pgbackrest_command(stanza, {"--type=full", "backup"}), time_left(context.clock, deadline),
               "pgbackrest backup");
  // The earliest instant a point-in-time restore of this backup can reach.
  produced.facts["backup_end_at"] = rfc3339(context.clock.now());
  const std::string info_text = exec_checked(runtime, target, pgbackrest_command(stanza, {"--output=json", "info"}),
                                             time_left(context.clock, deadline), "pgbackrest info");
  const auto info = nlohmann::json::parse(info_text, nullptr, false);
  if (info.is_discarded() || !info.is_array() || info.empty() || !info[0].contains("backup") || info[0]["backup"].empty())
    throw ActionFailed(fmt::format("pgbackrest info of '{}' lists no backup after the backup: {}", target, tail_lines(info_text, 3)));
  const auto& set = info[0]["backup"].back();
  const std::string label = set.value("label", "");
  const auto archive = set.value("archive", nlohmann::json::object());
  const auto lsn = set.value("lsn", nlohmann::json::object());
  const auto timestamp = set.value("timestamp", nlohmann::json::object());
  produced.facts["stanza"] = stanza;
  produced.facts["label"] = label;
  produced.facts["lsn_start"] = lsn.value("start", "");
  produced.facts["lsn_end"] = lsn.value("stop", "");
  produced.facts["wal_start_file"] = archive.value("start", "");
  produced.facts["wal_end_file"] = archive.value("stop", "");
  produced.facts["timeline"] = std::stoll(archive.value("start", "00000001").substr(0, 8), nullptr, 16);
  produced.facts["pgbackrest_started_at"] = rfc3339(timestamp.value("start", 0LL) * 1'000'000);
  produced.facts["pgbackrest_stopped_at"] = rfc3339(timestamp.value("stop", 0LL) * 1'000'000);
  produced.facts["database_bytes"] = set.value("info", nlohmann::json::object()).value("size", 0LL);
  produced.facts["wal_archive"] = produced.files_root;
  produced.facts["user"] = postgres->user();
  produced.facts["database"] = postgres->database();
  produced.files_in_place = pgbackrest_set_files(stanza_repository, stanza, label, archive.value("start", ""),
                                                 archive.value("stop", ""));
  return produced;
}

Produced dump_postgres(ActionContext& context, const Service& service, const std::string& target,
                       const std::string& method, const std::string& backup_id, Micros deadline) {
  Runtime& runtime = context.runtime;
  const std::string conninfo = service.harness_conninfo(runtime.inspect(target));
  const PostgresLogin login = postgres_login(conninfo);
  Produced produced;
  produced.scratch = "/tmp/fd-backup-" + backup_id;
  produced.tools["pg_dump"] = without_trailing_newlines(exec_checked(runtime, target, {"pg_dump", "--version"}, time_left(context.clock, deadline), "pg_dump --version"));
  try {
    pqxx::connection connection(conninfo);
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> snapshot(connection);
    produced.facts["database"] = login.database;
    produced.facts["user"] = login.user;
    produced.facts["server_version"] = snapshot.exec1("SHOW server_version")[0].as<std::string>();
    produced.facts["lsn_start"] = snapshot.exec1("SELECT pg_current_wal_lsn()::text")[0].as<std::string>();
    if (method == "pg_dump") {
      const std::string snapshot_id = snapshot.exec1("SELECT pg_export_snapshot()")[0].as<std::string>();
      nlohmann::json counts = nlohmann::json::object();
      for (const auto& row : snapshot.exec(postgres_row_count_query)) counts[row[0].as<std::string>()] = std::stoll(row[1].as<std::string>());
      produced.facts["row_counts"] = counts;
      const std::string file = produced.scratch + ".dump";
      exec_checked(runtime, target,
                   {"pg_dump", "-U", login.user, "-d", login.database, "-Fc", "--no-password",
                    "--snapshot=" + snapshot_id, "-f", file},
                   time_left(context.clock, deadline), "pg_dump");
      produced.files.emplace_back(file, login.database + ".dump");
    } else {
      // A scenario that also uses pgbackrest archives with it: the stanza must exist for the WAL
      // after this base backup to reach the archive.
      if (const auto* postgres = dynamic_cast<const PostgresService*>(&service);
          postgres != nullptr && postgres->archives_wal_with_pgbackrest()) {
        const auto mounted = postgres->spec().env.find(wal_archive_repository_env);
        ensure_pgbackrest_stanza(context, *postgres, mounted->second, deadline);
      }
      produced.tools["pg_basebackup"] = without_trailing_newlines(exec_checked(runtime, target, {"pg_basebackup", "--version"}, time_left(context.clock, deadline), "pg_basebackup --version"));
      produced.facts["timeline"] = snapshot.exec1("SELECT timeline_id FROM pg_control_checkpoint()")[0].as<long long>();
      produced.facts["wal_start_file"] = snapshot.exec1("SELECT pg_walfile_name(pg_current_wal_lsn())")[0].as<std::string>();
      exec_checked(runtime, target,
                   {"pg_basebackup", "-U", login.user, "--no-password", "-D", produced.scratch, "-Ft", "-X", "stream",
                    "--checkpoint=fast"},
                   time_left(context.clock, deadline), "pg_basebackup");
      // The earliest instant a point-in-time restore of this backup can reach.
      produced.facts["backup_end_at"] = rfc3339(context.clock.now());
      produced.facts["wal_end_file"] = snapshot.exec1("SELECT pg_walfile_name(pg_current_wal_lsn())")[0].as<std::string>();
      if (const auto* postgres = dynamic_cast<const PostgresService*>(&service); postgres != nullptr && postgres->archives_wal())
        produced.facts["wal_archive"] =
            postgres->archives_wal_with_pgbackrest() ? pgbackrest_repository_folder(target) : wal_archive_folder(target);
      const std::string listing = exec_checked(runtime, target, {"ls", "-1", produced.scratch}, time_left(context.clock, deadline), "listing the base backup");
      std::istringstream names(listing);
      for (std::string line; std::getline(names, line);) {
        const std::string name = without_trailing_newlines(line);
        if (name.empty()) continue;
        // The listing comes from the container, whose image or root may print anything; each
        // name becomes a file of the repository on this machine, so it must be one plain name.
        if (!is_single_path_component(name))
          throw ActionFailed(fmt::format("'{}' listed {:?} in its base backup directory, which is not a file name; "
                                         "nothing was copied",
                                         target, name));
        produced.files.emplace_back(produced.scratch + "/" + name, name);
      }
    }
    produced.facts["lsn_end"] = snapshot.exec1("SELECT pg_current_wal_lsn()::text")[0].as<std::string>();
    snapshot.commit();
  } catch (const pqxx::failure& error) {
    throw ActionFailed(fmt::format("cannot back up '{}': {}", target, without_trailing_newlines(error.what())));
  }
  return produced;
}

Produced dump_redis(ActionContext& context, const std::string& target, Micros deadline) {
  Produced produced;
  produced.tools["redis-server"] = without_trailing_newlines(exec_checked(context.runtime, target, {"redis-server", "--version"},
                                                       time_left(context.clock, deadline), "redis-server --version"));
  const auto config_value = [&](const std::string& name) {
    const std::string reply = redis_cli(context, target, {"CONFIG", "GET", name}, deadline);
    const auto newline = reply.find('\n');
    if (newline == std::string::npos) throw ActionFailed(fmt::format("redis '{}' has no '{}' setting", target, name));
    return without_trailing_newlines(reply.substr(newline + 1));
  };
  const std::string rdb_path = config_value("dir") + "/" + config_value("dbfilename");

  auto before = parse_redis_info(redis_cli(context, target, {"INFO"}, deadline));
  produced.facts["master_repl_offset_start"] = std::stoll(before["master_repl_offset"]);
  produced.facts["dbsize_start"] = std::stoll(redis_cli(context, target, {"DBSIZE"}, deadline));
  nlohmann::json sampled = nlohmann::json::array();
  for (int i = 0; i < 5; ++i) {
    const std::string key = redis_cli(context, target, {"RANDOMKEY"}, deadline);
    // A key that is not UTF-8 (`SET $'\xff' 1`) cannot be written to the manifest as itself:
    // sample another rather than record a key the restore check would never find.
    if (key.empty() || key.find('\n') != std::string::npos || !is_valid_utf8(key)) continue;
    // Keys with a time to live may be gone by the time a restore is checked.
    if (redis_cli(context, target, {"TTL", key}, deadline) != "-1") continue;
    sampled.push_back({{"key", key}, {"type", redis_cli(context, target, {"TYPE", key}, deadline)}});
  }
  produced.facts["sampled_keys"] = sampled;

  const std::string saves_before = before["rdb_saves"];
  const std::string last_save_before = before["rdb_last_save_time"];
  const std::string reply = redis_cli(context, target, {"BGSAVE", "SCHEDULE"}, deadline);
  if (reply.find("Background saving") == std::string::npos)
    throw ActionFailed(fmt::format("BGSAVE on '{}' was refused: {}", target, reply));
  while (true) {
    auto now = parse_redis_info(redis_cli(context, target, {"INFO", "persistence"}, deadline));
    const bool finished_ours = now["rdb_bgsave_in_progress"] == "0" &&
                               (now["rdb_saves"] != saves_before || now["rdb_last_save_time"] != last_save_before);
    if (finished_ours) {
      if (now["rdb_last_bgsave_status"] != "ok")
        throw ActionFailed(fmt::format("BGSAVE on '{}' failed (rdb_last_bgsave_status:{})", target, now["rdb_last_bgsave_status"]));
      break;
    }
    if (context.clock.now() >= deadline) throw ActionFailed(fmt::format("BGSAVE on '{}' did not finish in time", target));
    context.clock.sleep_for(milliseconds(50));
  }
  auto after = parse_redis_info(redis_cli(context, target, {"INFO", "replication"}, deadline));
  produced.facts["master_repl_offset_end"] = std::stoll(after["master_repl_offset"]);
  produced.facts["dbsize_end"] = std::stoll(redis_cli(context, target, {"DBSIZE"}, deadline));
  produced.facts["rdb_path"] = rdb_path;
  produced.files.emplace_back(rdb_path, "dump.rdb");
  return produced;
}

/// Removes what a postgres method wrote under /tmp in the service's container.
void remove_container_files(Runtime& runtime, const std::string& target, const std::string& backup_id) {
  runtime.exec(target, {"sh", "-c", "rm -rf /tmp/fd-backup-" + backup_id + "*"}, milliseconds(30000));
}

void write_manifest(const std::filesystem::path& folder, const nlohmann::json& manifest) {
  const auto partial = folder / "manifest.json.partial";
  {
    std::ofstream out(partial, std::ios::trunc);
    out << manifest.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!out) throw ActionFailed(fmt::format("cannot write {}", partial.string()));
  }
  std::filesystem::rename(partial, folder / "manifest.json");
}

}  // namespace

VerbSpec BackupAction::spec() {
  return {"backup",
          "Back the target (postgres or redis) up into the backup repository, with a manifest of SHA-256 digests.",
          true,
          {{"method", ParamType::string, false, "postgres: pg_dump (default), basebackup or pgbackrest; redis: rdb (default)"},
           {"repository", ParamType::string, false, "host directory of the backup repository, default <run>/backups"},
           {"encrypt_key", ParamType::string, false, "key file (mode 0600, 32 bytes or 64 hex digits): AES-256-GCM"}},
          [](const StepSpec& step) {
            auto method = step.params.find("method");
            if (method != step.params.end() && method->second.text != "pg_dump" && method->second.text != "basebackup" &&
                method->second.text != "pgbackrest" && method->second.text != "rdb")
              throw std::invalid_argument(fmt::format("backup method '{}' is not one of pg_dump, basebackup, pgbackrest, rdb",
                                                      method->second.text));
            if (method != step.params.end() && method->second.text == "pgbackrest" && step.params.count("encrypt_key") != 0)
              throw std::invalid_argument("a pgbackrest backup cannot take encrypt_key (its files stay in pgbackrest's repository)");
          }};
}

nlohmann::json BackupAction::run(ActionContext& context, const StepSpec& step) {
  const Service* service = context.service(step.target);
  if (service == nullptr) throw ActionFailed(fmt::format("'{}' is not a service of this scenario", step.target));
  const std::string kind = service->spec().kind;
  std::string method = step.param_text("method");
  if (kind == "postgres") {
    if (method.empty()) method = "pg_dump";
    if (method != "pg_dump" && method != "basebackup" && method != "pgbackrest")
      throw ActionFailed(fmt::format("method '{}' does not back up postgres (use pg_dump, basebackup or pgbackrest)", method));
  } else if (kind == "redis") {
    if (method.empty()) method = "rdb";
    if (method != "rdb") throw ActionFailed(fmt::format("method '{}' does not back up redis (use rdb)", method));
  } else {
    throw ActionFailed(fmt::format("'{}' is a {} service; backup handles postgres and redis", step.target, kind));
  }
  if (method == "pgbackrest" && !step.param_text("encrypt_key").empty())
    throw ActionFailed("a pgbackrest backup cannot take encrypt_key: its files stay in pgbackrest's repository");
  std::optional<EncryptionKey> key;
  if (const std::string key_file = step.param_text("encrypt_key"); !key_file.empty()) key = EncryptionKey::load(key_file);

  const Micros started = context.clock.now();
  const Micros deadline = started + std::chrono::duration_cast<std::chrono::microseconds>(step_timeout(step, std::chrono::minutes(30))).count();
  const auto repository = backup_repository(context, step);
  std::error_code error;
  std::filesystem::create_directories(repository, error);
  if (error) throw ActionFailed(fmt::format("cannot create the backup repository {}: {}", repository.string(), error.message()));
  std::string backup_id = new_backup_id(step.target, started);
  // Ids have millisecond resolution; a second backup within the same one takes the next.
  while (!std::filesystem::create_directory(repository / backup_id, error)) {
    if (error) throw ActionFailed(fmt::format("cannot create {}: {}", (repository / backup_id).string(), error.message()));
    context.clock.sleep_for(milliseconds(1));
    backup_id = new_backup_id(step.target, context.clock.now());
  }
  const auto folder = repository / backup_id;
  context.events.record("backup.started", {{"backup_id", backup_id}, {"service", step.target}, {"method", method}, {"path", folder.string()}});

  nlohmann::json phases = nlohmann::json::object();
  Produced produced;
  try {
    Micros phase_start = context.clock.now();
    if (method == "pgbackrest")
      produced = backup_pgbackrest(context, *service, step.target, repository, deadline);
    else
      produced = kind == "postgres" ? dump_postgres(context, *service, step.target, method, backup_id, deadline)
                                    : dump_redis(context, step.target, deadline);
    phases["dump_seconds"] = seconds_between(phase_start, context.clock.now());

    phase_start = context.clock.now();
    for (const auto& [container_path, name] : produced.files) {
      try {
        file_access(context.runtime).copy_from(step.target, container_path, folder / name);
      } catch (const EnvironmentError& failure) {
        throw ActionFailed(failure.what());
      }
    }
    if (kind == "postgres") remove_container_files(context.runtime, step.target, backup_id);
    phases["copy_seconds"] = seconds_between(phase_start, context.clock.now());

    if (key) {
      phase_start = context.clock.now();
      for (auto& [container_path, name] : produced.files) {
        encrypt_file(folder / name, folder / (name + ".enc"), *key, sealed_file_context(backup_id, name + ".enc"));
        std::filesystem::remove(folder / name);
        name += ".enc";
      }
      phases["encrypt_seconds"] = seconds_between(phase_start, context.clock.now());
    }

    phase_start = context.clock.now();
    nlohmann::json files = nlohmann::json::array();
    std::uint64_t total = 0;
    for (const auto& [container_path, name] : produced.files) {
      const auto bytes = std::filesystem::file_size(folder / name);
      total += bytes;
      files.push_back({{"name", name}, {"bytes", bytes}, {"sha256", file_sha256(folder / name)}});
    }
    for (const auto& name : produced.files_in_place) {
      const auto path = repository / produced.files_root / name;
      const auto bytes = std::filesystem::file_size(path);
      total += bytes;
      files.push_back({{"name", name}, {"bytes", bytes}, {"sha256", file_sha256(path)}});
    }
    phases["checksum_seconds"] = seconds_between(phase_start, context.clock.now());
    const Micros finished = context.clock.now();

    // `image` records what was backed up; a verification or restore never takes it from here.
    nlohmann::json manifest = {{"schema", backup_manifest_schema},
                               {"backup_id", backup_id},
                               {"service", step.target},
                               {"kind", kind},
                               {"method", method},
                               {"image", service->spec().image},
                               {"started_at", rfc3339(started)},
                               {"finished_at", rfc3339(finished)},
                               {"files", files},
                               {"tools", produced.tools},
                               {kind, produced.facts}};
    if (!produced.files_root.empty()) manifest["files_root"] = produced.files_root;
    if (key) {
      manifest["encryption"] = aes_256_gcm;
      manifest["key_id"] = key->id;
    }
    manifest = seal_manifest(std::move(manifest), key ? ManifestKey::derived_from(*key)
                                                      : ManifestKey::of_machine(context.manifest_key_file, true));
    write_manifest(folder, manifest);

    phases["total_seconds"] = seconds_between(started, finished);
    // The record a later "latest" is checked against: in the run's events, outside the repository.
    context.events.record("backup.finished", {{"backup_id", backup_id},
                                              {"service", step.target},
                                              {"method", method},
                                              {"repository", std::filesystem::absolute(repository).lexically_normal().string()},
                                              {"manifest_sha256", file_sha256(folder / "manifest.json")},
                                              {"files", files.size()},
                                              {"bytes", total},
                                              {"phases", phases}});
    nlohmann::json names = nlohmann::json::array();
    for (const auto& file : files) names.push_back(file["name"]);
    return {{"backup_id", backup_id}, {"path", folder.string()}, {"files", names},
            {"bytes", total},         {"phases", phases},        {"duration_seconds", phases["total_seconds"]}};
  } catch (const std::exception& failure) {
    // A backup without its manifest is no backup; leave nothing that looks like one.
    std::filesystem::remove_all(folder, error);
    if (kind == "postgres") {
      try {
        remove_container_files(context.runtime, step.target, backup_id);
      } catch (const std::exception&) {
        // The container may be the reason the backup failed; its files go with it.
      }
    }
    context.events.record("backup.failed", {{"backup_id", backup_id}, {"service", step.target}, {"error", failure.what()}});
    if (dynamic_cast<const ActionFailed*>(&failure) != nullptr) throw;
    throw ActionFailed(fmt::format("backup of '{}' failed: {}", step.target, failure.what()));
  }
}

}  // namespace firedrill
