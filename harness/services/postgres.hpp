#pragma once
#include <filesystem>
#include <optional>

#include "harness/services/service.hpp"
#include "harness/services/service_kind.hpp"

namespace firedrill {

/// Where a postgres container that archives its WAL sees the backup repository (bind-mounted).
inline constexpr const char* repository_mount_path = "/var/lib/firedrill/repository";

/// The key of a postgres ServiceSpec's env naming the host directory of the backup repository its
/// WAL is archived into. Read by the service, never passed to the container.
inline constexpr const char* wal_archive_repository_env = "FIREDRILL_WAL_REPOSITORY";

/// The key of a postgres ServiceSpec's env choosing the WAL archiver: "pgbackrest" for
/// `pgbackrest archive-push` into the service's pgbackrest repository (see pgbackrest.hpp), else
/// the gzip copy into wal_archive_folder(). Read by the service, never passed to the container.
inline constexpr const char* wal_archiver_env = "FIREDRILL_WAL_ARCHIVER";

/// The folder of a service's archived WAL, relative to the repository: wal/<service>. Each
/// segment is stored gzip-compressed as <segment name>.gz.
std::string wal_archive_folder(const std::string& service);

/// The backup repository (absolute) a postgres service must archive its WAL into so that the
/// scenario's steps can use it: that of the first `backup` step of the service with `method:
/// basebackup` or `pgbackrest`, else of the first `restore` step of it with `to`, `before` or
/// `method: basebackup` or `pgbackrest`. The repository is the step's `repository` parameter, else <run>/backups. Nothing
/// for a service no such step names, and for standbys.
std::optional<std::filesystem::path> wal_archive_repository(const Scenario& scenario, const ServiceSpec& service,
                                                            const std::filesystem::path& run_directory);

/// Whether a step of the scenario backs the service up or restores it with `method: pgbackrest`:
/// then its WAL archive is pgbackrest's (wal_archiver_env "pgbackrest").
bool archives_wal_with_pgbackrest(const Scenario& scenario, const ServiceSpec& service);

/// PostgreSQL 15 with data checksums, honouring the official image's variables. The password is
/// generated per run unless the scenario sets POSTGRES_PASSWORD; either way it is a secret. A
/// standby (spec().standby_of set, see standby.hpp) is ready once it answers as a server in
/// recovery and its primary's pg_stat_replication shows it streaming. With
/// wal_archive_repository_env in its env, the repository is bind-mounted at
/// repository_mount_path and the server archives every WAL segment into wal_archive_folder()
/// there (archive_mode on, archive_timeout 1s, so a commit reaches the archive within a second
/// or so while writes go on).
class PostgresService final : public Service {
 public:
  /// The kind's keys, rules, derived services and class (registered in kinds.cpp).
  static ServiceKind kind();
  explicit PostgresService(ServiceSpec spec);
  ContainerSpec container_spec(const std::function<std::string(const std::string&)>& resolve) const override;
  /// container_spec(), with `prelude` (bash, run as root in the container) run before the server
  /// starts: how a restore lays a data directory down before Postgres sees it.
  ContainerSpec container_spec_with_prelude(const std::function<std::string(const std::string&)>& resolve,
                                            const std::string& prelude) const;
  /// Whether the server archives its WAL into a backup repository.
  bool archives_wal() const { return spec_.env.count(wal_archive_repository_env) != 0; }
  /// Whether that archive is pgbackrest's stanza of the service rather than the gzip copy.
  bool archives_wal_with_pgbackrest() const;
  /// The superuser and the database the server was created with.
  std::string user() const;
  std::string database() const;
  int container_port() const override { return 5432; }
  std::string url_at(const std::string& host, int port) const override;
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  std::string harness_conninfo(const ContainerInfo& info) const override;
  std::vector<std::string> secrets() const override;
  /// PGDATA: the scenario's, else /var/lib/postgresql/data (the entrypoint owns and chmods it).
  std::string data_directory() const override;

 protected:
  std::map<std::string, std::string> kind_environment() const override;
  std::string default_image() const override { return "firedrill/postgres:15"; }
  bool ready_precondition(Runtime& runtime, std::string& why_not) const override;

 private:
  bool standby_streaming(Runtime& runtime, std::string& why_not) const;
  std::string password_;
};

}  // namespace firedrill
