#pragma once
// How firedrill configures Debian's pgbackrest for a postgres service: one stanza per service,
// named after it, with its repository inside the backup repository at
// <repository>/pgbackrest/<service>. The configuration holds no secret: pgbackrest reaches the
// server over its Unix socket as the service's superuser, which the image trusts locally.
#include <filesystem>
#include <string>
#include <vector>

namespace firedrill {

/// Where firedrill writes pgbackrest.conf in a postgres container (pgbackrest's default path).
inline constexpr const char* pgbackrest_config_path = "/etc/pgbackrest/pgbackrest.conf";

/// The folder of a service's pgbackrest repository, relative to the backup repository:
/// pgbackrest/<service>.
std::string pgbackrest_repository_folder(const std::string& service);

/// pgbackrest.conf for `service` (the stanza's name) whose data directory is `data_directory`
/// and whose superuser is `user`: repo1-path under `repository_in_container`, one process, lz4
/// compression, a fast checkpoint at backup start, console logging only.
std::string pgbackrest_config(const std::string& service, const std::string& user, const std::string& data_directory,
                              const std::string& repository_in_container);

/// The archive_command that pushes each WAL segment (%p) into the service's stanza.
std::string pgbackrest_archive_command(const std::string& service);

/// The argv of `pgbackrest <command>` for the service's stanza, run as the postgres OS user.
std::vector<std::string> pgbackrest_command(const std::string& service, const std::vector<std::string>& arguments);

/// The names (24 hex digits) of the WAL segments of `service`'s stanza archived in its pgbackrest
/// repository `repository_folder` (a host path), in no particular order.
std::vector<std::string> pgbackrest_archived_segments(const std::filesystem::path& repository_folder,
                                                      const std::string& service);

}  // namespace firedrill
