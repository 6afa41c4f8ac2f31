#pragma once
// What a person needs to do a step by hand: the commands to run, with this run's real container
// names and published ports filled in. Passwords are never printed: host-side psql commands read
// them from a PGPASSFILE the rehearsal writes (mode 0600) in the run directory.
#include <filesystem>
#include <string>
#include <vector>

#include "core/model.hpp"
#include "harness/rehearse/operator.hpp"

namespace firedrill {

/// How a person reaches one service of the run.
struct ServiceAccess {
  std::string name;       ///< the scenario's name (db, db-standby-1, app)
  std::string kind;       ///< postgres | redis | app | container
  std::string container;  ///< the runtime's container name
  std::string address;    ///< on the run's network
  int host_port = 0;      ///< published on 127.0.0.1; 0 when none
  std::string conninfo;   ///< postgres: libpq key=value conninfo (holds the password; never printed)
  std::string password = {};  ///< redis: the server's password (never printed)
};

/// The pgpass line of a postgres service (`127.0.0.1:PORT:*:USER:PASSWORD`), empty for others.
std::string pgpass_line(const ServiceAccess& service);

/// Writes `file` with mode 0600 (created exclusively, never readable by others), one line per
/// postgres service, and beside it, as privately, each redis service's password in
/// redis_password_file(file, name). Throws std::runtime_error when it cannot.
void write_pgpass(const std::filesystem::path& file, const std::vector<ServiceAccess>& services);

/// Where a rehearsal keeps the password of the redis service `service`, beside its pgpass `file`:
/// `<dir>/rehearsal.<service>.redis-password`. redis-cli on the host takes it through
/// REDISCLI_AUTH, never as an argument.
std::filesystem::path redis_password_file(const std::filesystem::path& pgpass, const std::string& service);

/// Removes what write_pgpass wrote for a rehearsal in `run_directory` (errors ignored).
void remove_rehearsal_password_files(const std::filesystem::path& run_directory);

/// The commands shown for `step`: for the services it names (target, `until`, an action's
/// service/to parameters) a shell in the container and a client on the published port, plus the
/// action's own command where there is one (pg_promote for promote, the hosts switch for repoint).
/// `engine_cli` is the container engine's command (docker); with "process" (local processes)
/// there is no shell in a container to offer and no hosts file of the services' own.
std::vector<std::string> suggested_commands(const StepSpec& step, const std::string& engine_cli,
                                            const std::vector<ServiceAccess>& services,
                                            const std::filesystem::path& pgpass);

/// The whole task of a human step: text, commands, budget and the `until` in words.
HumanTask describe_human_step(const StepSpec& step, std::size_t index, std::size_t step_count,
                              const std::string& engine_cli, const std::vector<ServiceAccess>& services,
                              const std::filesystem::path& pgpass);

/// True for what a SQL `until` query returning `value` means true: t, true, on, or a non-zero number.
bool sql_value_is_true(const std::string& value);

}  // namespace firedrill
