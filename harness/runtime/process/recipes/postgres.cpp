// PostgreSQL as the postgres image runs it: the postgresql-15 server of this machine, its data
// directory initialised as the image's entrypoint does (POSTGRES_USER, _PASSWORD, _DB,
// _INITDB_ARGS, _HOST_AUTH_METHOD, data checksums), listening on 127.0.0.1 and on a socket in
// the service's place, as the user `postgres` when the harness is root (it refuses to run as
// root). A command that prepares the data directory in a script and hands over to the image's
// entrypoint (a standby's clone, a restore, WAL archiving) runs as such, the entrypoint being a
// stand-in that starts this server; `sleep infinity` is an idle service to exec into (scratch
// servers of the actions); pg_ctl is a stand-in whose `start` keeps the server in the service's
// process group. pgBackRest finds its configuration, locks and spool in the service's place.
// What a server killed outright leaves outside its data directory is released with it: dynamic
// shared memory lives in the data directory (dynamic_shared_memory_type=mmap, not /dev/shm), and
// the small System V segment it interlocks on is removed once no process holds it.
#include <sys/shm.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "harness/runtime/process/command_line.hpp"
#include "harness/runtime/process/recipes/registry.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

constexpr const char* postgres_bin = "/usr/lib/postgresql/15/bin";

/// A command that prepares the data directory in a shell script and then hands over to the
/// image's entrypoint (`bash -c '...; exec docker-entrypoint.sh "$@"' bash postgres ARGS`):
/// standbys, restores and WAL archiving start so (harness/services/).
struct EntrypointScript {
  std::vector<std::string> command;  // the shell, -c, the script and its positional arguments
  std::vector<std::string> server;   // what the script passes to postgres
};

std::optional<EntrypointScript> entrypoint_script(const std::vector<std::string>& command) {
  const auto last_line = last_script_line(command, {"sh", "/bin/sh", "bash", "/bin/bash"});
  constexpr std::string_view handover = "exec docker-entrypoint.sh";
  if (!last_line || !last_line->starts_with(handover)) return std::nullopt;
  EntrypointScript parsed{command, {}};
  const std::string passed = last_line->substr(handover.size());
  if (split_words(passed) == std::vector<std::string>{"\"$@\""}) {
    if (command.size() > 4) parsed.server.assign(command.begin() + 4, command.end());
  } else {
    parsed.server = split_words(passed);
  }
  if (!parsed.server.empty() && parsed.server.front() == "postgres") parsed.server.erase(parsed.server.begin());
  if (!parsed.server.empty() && !parsed.server.front().starts_with("-")) return std::nullopt;
  return parsed;
}

/// The stand-in for the image's entrypoint an entrypoint script hands over to: the script has
/// laid down or found the data directory, so it only starts the server, as the service's user.
std::string entrypoint_stand_in(const std::string& server, const std::vector<std::string>& listening,
                                const std::string& as_user) {
  return "#!/bin/sh\n[ \"$1\" = postgres ] && shift\nexec " + as_user + server + " -D \"$PGDATA\" \"$@\"" +
         quoted_arguments(listening) + "\n";
}

/// pg_ctl as the process runtime's services run it. `start` keeps the server in the service's
/// process group, where stopping the service stops it too (pg_ctl would detach it into a session of
/// its own, beyond the reach of the service's cleanup), and gives it the service's socket
/// directory; every other command is pg_ctl's own.
std::string pg_ctl_stand_in(const std::string& socket_directory) {
  return fmt::format(R"SH(#!/bin/sh
case " $* " in *" start "*) ;; *) exec {0}/pg_ctl "$@" ;; esac
data="$PGDATA" log=/dev/null options= wait_seconds=60
while [ $# -gt 0 ]; do
  case "$1" in
    -D) data=$2; shift 2 ;;
    -l) log=$2; shift 2 ;;
    -o) options="$options $2"; shift 2 ;;
    -t) wait_seconds=$2; shift 2 ;;
    *) shift ;;
  esac
done
( eval "exec {0}/postgres -D "\$data" $options -k '{1}' </dev/null >>"\$log" 2>&1" ) &
server=$!
tries=$((wait_seconds * 10))
until {0}/pg_isready -q -h '{1}' -p "${{PGPORT:-5432}}"; do
  kill -0 "$server" 2>/dev/null || {{ echo "pg_ctl: the server exited"; exit 1; }}
  tries=$((tries - 1)); [ "$tries" -gt 0 ] || {{ echo "pg_ctl: the server did not start in time"; exit 1; }}
  sleep 0.1
done
echo "server started"
)SH",
                     postgres_bin, socket_directory);
}

class PostgresRecipe final : public ProgramRecipe {
 public:
  explicit PostgresRecipe(const ContainerSpec& spec)
      : service_(spec.service), environment_(environment_map(spec.env)), data_from_command_(spec.data_from_command) {
    program_.binary = fmt::format("{}/postgres", postgres_bin);
    program_.data_path = value_or(environment_, "PGDATA", "/var/lib/postgresql/data");
    // The image's STOPSIGNAL, a fast shutdown: SIGTERM's smart one would wait for every client.
    program_.stop_signal = SIGINT;
    program_.default_port = 5432;
    program_.user = "postgres";
    arguments_ = spec.command;
    if (!arguments_.empty() && arguments_.front() == "postgres") arguments_.erase(arguments_.begin());
    idle_ = is_idle_command(arguments_);
    if (!idle_ && !arguments_.empty() && !arguments_.front().starts_with("-")) {
      script_ = entrypoint_script(arguments_);
      if (!script_) refuse_command(spec, program_.binary);
      arguments_ = script_->server;
    }
  }

  Launch place(const ServicePlace& place) override {
    socket_directory_ = place.make_socket_directory();
    Launch launch;
    launch.environment["PGDATA"] = place.data().string();
    // pgBackRest's defaults are this machine's (/etc/pgbackrest, /tmp/pgbackrest,
    // /var/spool/pgbackrest, port 5432 on /var/run/postgresql); the service's own stand in.
    launch.environment["PGBACKREST_CONFIG"] = (place.directory / "etc/pgbackrest/pgbackrest.conf").string();
    launch.environment["PGBACKREST_LOCK_PATH"] = (place.scratch() / "pgbackrest").string();
    launch.environment["PGBACKREST_SPOOL_PATH"] = (place.scratch() / "pgbackrest-spool").string();
    launch.environment["PGBACKREST_PG1_SOCKET_PATH"] = socket_directory_.string();
    launch.environment["PGBACKREST_PG1_PORT"] = std::to_string(place.port);
    place.write_stand_in("pg_ctl", pg_ctl_stand_in(socket_directory_.string()));
    if (idle_) return idle_launch(std::move(launch.environment));
    const std::vector<std::string> listening = {"-p", std::to_string(place.port), "-k", socket_directory_.string(),
                                                "-c", "listen_addresses=127.0.0.1",
                                                "-c", "dynamic_shared_memory_type=mmap"};
    if (script_) {
      // The script runs as root does in the image (as the harness's user) and hands over to the
      // stand-in entrypoint, which becomes the server.
      for (const auto& argument : script_->command) launch.argv.push_back(place.on_host(argument));
      launch.as_service_user = false;
      place.write_stand_in("docker-entrypoint.sh",
                           entrypoint_stand_in(program_.binary, listening, as_program_user(place, program_)));
      return launch;
    }
    launch.argv = {program_.binary, "-D", place.data().string()};
    launch.argv.insert(launch.argv.end(), arguments_.begin(), arguments_.end());
    launch.argv.insert(launch.argv.end(), listening.begin(), listening.end());
    return launch;
  }

  void prepare(const ServicePlace& place, const RunToCompletion& run) override {
    // A standby's clone or a restore lays the data directory down itself; an idle service has none.
    if (data_from_command_ || idle_) return;
    std::ofstream log(place.log_file(), std::ios::app);
    if (fs::exists(place.data() / "PG_VERSION")) {
      log << "PostgreSQL Database directory appears to contain a database; Skipping initialization\n";
      return;
    }
    const std::string user = value_or(environment_, "POSTGRES_USER", "postgres");
    const std::string database = value_or(environment_, "POSTGRES_DB", user);
    const std::string password = value_or(environment_, "POSTGRES_PASSWORD", "");
    const std::string method = value_or(environment_, "POSTGRES_HOST_AUTH_METHOD", "scram-sha-256");
    if (password.empty() && method != "trust")
      throw EnvironmentError(fmt::format("'{}': the database is uninitialised and POSTGRES_PASSWORD is not set", service_));

    std::vector<std::string> initdb = {fmt::format("{}/initdb", postgres_bin), "--username=" + user, "--data-checksums",
                                       "-D", place.data().string(), "--auth-local=trust", "--auth-host=" + method};
    // The password reaches initdb in a private file, never as an argument.
    const fs::path password_file = place.directory / "initdb-password";
    if (!password.empty()) {
      place.write_private_file(password_file, password + "\n", fmt::format("the initdb password file of '{}'", service_));
      initdb.push_back("--pwfile=" + password_file.string());
    }
    for (const auto& word : split_words(value_or(environment_, "POSTGRES_INITDB_ARGS", ""))) initdb.push_back(word);
    try {
      run(initdb, "/dev/null", std::chrono::seconds(120), "initdb");
    } catch (...) {
      fs::remove(password_file);
      throw;
    }
    fs::remove(password_file);

    // Dynamic shared memory in the data directory rather than /dev/shm, where a server killed
    // outright would leave it: every copy of this directory (clones, backups, restores) inherits it.
    std::ofstream(place.data() / "postgresql.conf", std::ios::app) << "dynamic_shared_memory_type = mmap\n";
    {
      std::ofstream hba(place.data() / "pg_hba.conf", std::ios::trunc);
      hba << "# TYPE  DATABASE     USER  ADDRESS  METHOD\n"
          << "local   all          all            trust\n"
          << "local   replication  all            trust\n"
          << "host    all          all   all      " << method << "\n"
          << "host    replication  all   all      " << method << "\n";
    }
    if (place.run_as && ::chown((place.data() / "pg_hba.conf").c_str(), place.run_as->first, place.run_as->second) != 0)
      log << "cannot give pg_hba.conf to the service's user: " << std::strerror(errno) << "\n";

    if (database != "postgres") {
      // Single-user mode needs no socket and no port: nothing can connect before this is done.
      std::string quoted;
      for (char c : database) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      const fs::path script = place.directory / "initdb.sql";
      std::ofstream(script, std::ios::trunc) << "CREATE DATABASE \"" << quoted << "\";\n";
      run({program_.binary, "--single", "-D", place.data().string(), "postgres"}, script, std::chrono::seconds(60),
          "creating the database");
      fs::remove(script);
    }
    std::ofstream(place.log_file(), std::ios::app) << "\nPostgreSQL init process complete; ready for start up.\n\n";
  }

  void adapt_exec(const ServicePlace& place, std::vector<std::string>&, std::vector<std::string>& environment) const override {
    // psql -U user and the pg_* tools reach the server as a local, trusted connection, as in the image.
    environment.push_back("PGHOST=" + socket_directory_.string());
    environment.push_back("PGPORT=" + std::to_string(place.port));
  }

 private:
  std::string service_;
  std::map<std::string, std::string> environment_;  // the spec's
  bool data_from_command_ = false;
  std::vector<std::string> arguments_;  // the server's options
  std::optional<EntrypointScript> script_;
  bool idle_ = false;
  fs::path socket_directory_;  // ServicePlace::make_socket_directory
};

}  // namespace

std::unique_ptr<ProgramRecipe> postgres_recipe(const ContainerSpec& spec) { return std::make_unique<PostgresRecipe>(spec); }

bool release_postgres_shared_memory(const fs::path& data_directory) {
  // postmaster.pid's seventh line: the segment's key and id ("  5432001     98305").
  std::ifstream pid_file(data_directory / "postmaster.pid");
  std::string line;
  for (int number = 1; number <= 7 && std::getline(pid_file, line); ++number)
    if (number < 7) line.clear();
  long key = 0;
  int id = -1;
  if (line.empty() || std::sscanf(line.c_str(), "%ld %d", &key, &id) != 2 || id < 0) return false;
  shmid_ds segment{};
  // Only that segment, and only once no process holds it: a reused id is another's.
  if (::shmctl(id, IPC_STAT, &segment) != 0 || segment.shm_perm.__key != static_cast<key_t>(key) || segment.shm_nattch != 0)
    return false;
  return ::shmctl(id, IPC_RMID, nullptr) == 0;
}

}  // namespace firedrill
