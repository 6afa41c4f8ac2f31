#include "harness/runtime/process/process_runtime.hpp"

#include <arpa/inet.h>
#include <linux/close_range.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "core/ports.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/process/child_reaper.hpp"
#include "harness/runtime/process/service_cgroup.hpp"

namespace firedrill {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* postgres_bin = "/usr/lib/postgresql/15/bin";
constexpr const char* search_path = "/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// A Unix socket's path holds at most 107 bytes; postgres adds "/.s.PGSQL.<port>.lock".
constexpr std::size_t longest_socket_directory = 80;

enum class ProgramKind { postgres, redis, app };

/// The repository of an image reference: "firedrill/postgres:15" → "firedrill/postgres".
std::string repository_of(const std::string& image) {
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) return image.substr(0, colon);
  return image;
}

ProgramKind program_kind(const ContainerSpec& spec) {
  std::string repository = repository_of(spec.image);
  if (repository.starts_with("docker.io/library/")) repository.erase(0, std::strlen("docker.io/library/"));
  if (repository == "firedrill/postgres" || repository == "postgres") return ProgramKind::postgres;
  if (repository == "firedrill/redis" || repository == "redis") return ProgramKind::redis;
  if (repository == "firedrill/app") return ProgramKind::app;
  throw EnvironmentError(fmt::format(
      "the process runtime cannot run image '{}' of '{}': it runs only firedrill/postgres, firedrill/redis and "
      "firedrill/app (or the official postgres and redis) as programs of this machine; use --runtime docker",
      spec.image, spec.service));
}

/// True for a redis image's command that is a shell script ending in `exec redis-sentinel ...`:
/// a sentinel writing its configuration before it becomes the sentinel (harness/services/sentinel.cpp).
bool starts_redis_sentinel(const std::vector<std::string>& command) {
  if (command.size() < 3 || (command[0] != "/bin/sh" && command[0] != "sh") || command[1] != "-c") return false;
  std::string script = command[2];
  while (!script.empty() && std::isspace(static_cast<unsigned char>(script.back()))) script.pop_back();
  const auto newline = script.rfind('\n');
  return script.substr(newline == std::string::npos ? 0 : newline + 1).starts_with("exec redis-sentinel ");
}

/// The redis-server options of firedrill's server script (harness/services/redis.cpp), `sh -c
/// SCRIPT sh redis-server OPTIONS...`, whose script hands OPTIONS to the image's entrypoint with
/// the password on standard input; nothing for any other command.
std::optional<std::vector<std::string>> redis_server_script_options(const std::vector<std::string>& command) {
  if (command.size() < 5 || (command[0] != "/bin/sh" && command[0] != "sh") || command[1] != "-c") return std::nullopt;
  if (command[2].find("\nexec docker-entrypoint.sh \"$@\" - <<") == std::string::npos) return std::nullopt;
  std::vector<std::string> options(command.begin() + 4, command.end());
  if (!options.empty() && options.front() == "redis-server") options.erase(options.begin());
  return options;
}

/// `value` as a double-quoted token of a Redis configuration line.
std::string redis_config_quoted(const std::string& value) {
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '\\' || c == '"') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

/// Writes `text` to `path` private from its first byte (0600, created exclusively, never through
/// a name someone else prepared) and gives it to `owner` when there is one.
void write_private_file(const fs::path& path, const std::string& text, const std::optional<std::pair<uid_t, gid_t>>& owner,
                        const std::string& what) {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  const bool written = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       (!owner || ::fchown(fd, owner->first, owner->second) == 0);
  const std::string why = std::strerror(errno);
  if (fd >= 0) ::close(fd);
  if (!written) throw EnvironmentError(fmt::format("cannot write {}: {}", what, why));
}

std::map<std::string, std::string> environment_map(const std::vector<std::string>& entries) {
  std::map<std::string, std::string> map;
  for (const auto& entry : entries) {
    const auto equals = entry.find('=');
    if (equals == std::string::npos) map[entry] = "";
    else map[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  return map;
}

std::string value_or(const std::map<std::string, std::string>& map, const std::string& key, const std::string& fallback) {
  auto found = map.find(key);
  return found == map.end() || found->second.empty() ? fallback : found->second;
}

int signal_number(const std::string& name) {
  std::string bare = name;
  if (bare.starts_with("SIG")) bare.erase(0, 3);
  static const std::map<std::string, int> signals = {
      {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},   {"QUIT", SIGQUIT},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"ABRT", SIGABRT}};
  if (auto found = signals.find(bare); found != signals.end()) return found->second;
  try {
    return std::stoi(bare);
  } catch (const std::exception&) {
    throw std::invalid_argument(fmt::format("unknown signal '{}'", name));
  }
}

/// argv[0] as a path: itself when it holds a '/', else the first match in `first_directory` (a
/// service's stand-ins) or on search_path.
std::string resolve_program(const std::string& program, const fs::path& first_directory = {}) {
  if (program.find('/') != std::string::npos) return program;
  std::istringstream directories((first_directory.empty() ? std::string() : first_directory.string() + ":") + search_path);
  for (std::string directory; std::getline(directories, directory, ':');) {
    const fs::path candidate = fs::path(directory) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return program;
}

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// The last `max_bytes` of a file (all of a shorter one), and how many bytes came before them.
std::pair<std::string, std::uintmax_t> read_file_tail(const fs::path& path, std::uintmax_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  const auto size = static_cast<std::uintmax_t>(in.tellg());
  const std::uintmax_t skipped = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(skipped));
  return {std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), skipped};
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream stream(text);
  std::vector<std::string> words;
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

/// What the child reports through the close-on-exec pipe when it could not exec.
struct SpawnFailure {
  int stage = 0;  // 1 user, 2 directory, 3 exec
  int error = 0;
};

/// Blocks until the process with `pid` (a child) exits or `deadline`; its exit code, or nullopt.
std::optional<int> wait_child(int pid, Clock::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      forget_awaited_child(pid);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (done < 0) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

/// True when `c` may continue a path component, so a container path ending before it is only
/// the beginning of a longer name ("/data" in "/database").
bool continues_name(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

/// True when a path may start after `c`: the text's start, blanks, quotes and the separators of
/// options (--file=/tmp/x), lists (a:/tmp/x) and shell redirections (>/tmp/x).
bool starts_path_after(char c) { return std::isspace(static_cast<unsigned char>(c)) || std::strchr("'\"=:(<>;|&", c) != nullptr; }

/// `text` with every occurrence of a container path of `roots` (container path -> host path)
/// rewritten to the host path, in one pass so a rewritten path is never rewritten again.
std::string with_host_paths(const std::string& text, const std::vector<std::pair<std::string, std::string>>& roots) {
  std::string rewritten;
  std::size_t position = 0;
  while (position < text.size()) {
    const bool at_start = position == 0 || starts_path_after(text[position - 1]);
    const std::pair<std::string, std::string>* match = nullptr;
    if (at_start && text[position] == '/')
      for (const auto& root : roots)
        if (text.compare(position, root.first.size(), root.first) == 0 &&
            (position + root.first.size() == text.size() || !continues_name(text[position + root.first.size()])) &&
            (match == nullptr || root.first.size() > match->first.size()))
          match = &root;
    if (match) {
      rewritten += match->second;
      position += match->first.size();
    } else {
      rewritten += text[position++];
    }
  }
  return rewritten;
}

/// A postgres service's command that prepares the data directory in a shell script and then hands
/// over to the image's entrypoint (`bash -c '...; exec docker-entrypoint.sh "$@"' bash postgres
/// ARGS`): standbys, restores and WAL archiving start so (harness/services/).
struct EntrypointScript {
  std::vector<std::string> command;  // the shell, -c, the script and its positional arguments
  std::vector<std::string> server;   // what the script passes to postgres
};

std::optional<EntrypointScript> entrypoint_script(const std::vector<std::string>& command) {
  static const std::set<std::string> shells = {"sh", "/bin/sh", "bash", "/bin/bash"};
  if (command.size() < 3 || !shells.count(command[0]) || command[1] != "-c") return std::nullopt;
  std::string script = command[2];
  while (!script.empty() && std::isspace(static_cast<unsigned char>(script.back()))) script.pop_back();
  const auto newline = script.rfind('\n');
  const std::string last_line = newline == std::string::npos ? script : script.substr(newline + 1);
  constexpr std::string_view handover = "exec docker-entrypoint.sh";
  if (!last_line.starts_with(handover)) return std::nullopt;
  EntrypointScript parsed{command, {}};
  const std::string passed = last_line.substr(handover.size());
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
std::string entrypoint_stand_in(const std::string& server, const std::vector<std::string>& listening, bool as_postgres) {
  std::string text = "#!/bin/sh\n[ \"$1\" = postgres ] && shift\nexec ";
  if (as_postgres) text += "setpriv --reuid postgres --regid postgres --init-groups ";
  text += server + " -D \"$PGDATA\" \"$@\"";
  for (const auto& argument : listening) text += " '" + argument + "'";
  return text + "\n";
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

// Without root every service runs as the harness's user, so the identity changes the images'
// scripts make as root are already true and stand-ins let them pass.
constexpr std::pair<const char*, const char*> identity_stand_ins[] = {
    {"chown", "#!/bin/sh\nexit 0\n"},
    {"setpriv",
     "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in\n    --reuid|--regid|--ruid|--rgid|--euid|--egid|--groups) shift 2 ;;\n"
     "    --*) shift ;;\n    *) break ;;\n  esac\ndone\nexec \"$@\"\n"},
    {"runuser", "#!/bin/sh\n[ \"$1\" = -u ] && shift 2\n[ \"$1\" = -- ] && shift\nexec \"$@\"\n"},
};

void write_program(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
  ::chmod(path.c_str(), 0755);
}

}  // namespace

fs::path fixture_app_binary() {
  if (const char* configured = std::getenv("FIREDRILL_APP_BINARY"); configured && *configured) {
    if (::access(configured, X_OK) != 0)
      throw EnvironmentError(fmt::format("FIREDRILL_APP_BINARY names {}, which is not an executable file", configured));
    return configured;
  }
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  std::vector<fs::path> candidates;
  if (!error) {
    candidates.push_back(self.parent_path() / "firedrill-app");
    candidates.push_back(self.parent_path() / "fixtures" / "app" / "firedrill-app");
  }
  for (const auto& candidate : candidates)
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  std::string looked;
  for (const auto& candidate : candidates) looked += " " + candidate.string();
  throw EnvironmentError(fmt::format(
      "the process runtime needs the fixture app binary (firedrill-app) and found none (looked at{}); build the "
      "firedrill-app target or set FIREDRILL_APP_BINARY",
      looked));
}

struct ProcessRuntime::Program {
  ProgramKind kind = ProgramKind::app;
  std::string binary;
  std::string data_path;  // the image's data directory (container path); empty: none
  int stop_signal = SIGTERM;
};

struct ProcessRuntime::ServiceProcess {
  ContainerSpec spec;
  Program program;
  fs::path directory;
  fs::path data;
  fs::path socket_directory;  // postgres only
  std::map<int, int> ports;   // container port -> 127.0.0.1 port
  std::vector<std::string> argv;
  std::vector<std::string> environment;
  std::optional<RecordedProcess> process;
  bool child = false;  // this runtime's child, reaped with waitpid
  bool script_owns_main_process = false;  // an entrypoint script, run as the harness's user
  std::optional<std::pair<uid_t, gid_t>> run_as;
  fs::path pid_file() const { return directory / "pid"; }
  /// What the service's commands see as /tmp: a container's own, not this machine's.
  fs::path scratch() const { return directory / "tmp"; }
  /// Container path -> host path of everything the service keeps: the image's data directory,
  /// /tmp and the host directories the spec mounts.
  std::vector<std::pair<std::string, std::string>> roots() const {
    std::vector<std::pair<std::string, std::string>> mapped = {{"/tmp", scratch().string()},
                                                               {"/etc/pgbackrest", (directory / "etc/pgbackrest").string()}};
    if (!program.data_path.empty()) mapped.emplace_back(fs::path(program.data_path).lexically_normal().string(), data.string());
    for (const auto& mounted : spec.host_directories)
      mapped.emplace_back(fs::path(mounted.path).lexically_normal().string(), mounted.source.string());
    // Paths of this machine stay as they are, though they may begin like a container's (/tmp/...).
    const std::size_t container_paths = mapped.size();
    mapped.emplace_back(directory.string(), directory.string());
    for (std::size_t i = 0; i < container_paths; ++i) mapped.emplace_back(mapped[i].second, mapped[i].second);
    return mapped;
  }
  fs::path log_file() const { return directory / "log"; }
};

ProcessRuntime::ProcessRuntime(fs::path out_dir) : out_dir_(std::move(out_dir)) {
  // Orphans of the services (backends of a killed postmaster, daemons an exec left) come here to
  // be reaped instead of to a PID 1 that may never reap them.
  adopt_orphans();
}

ProcessRuntime::~ProcessRuntime() { reap_orphans(); }

void ProcessRuntime::begin_run(const std::string& run_id, const std::string&, const Owner&, BeforeCreate before_create) {
  std::lock_guard lock(mutex_);
  run_id_ = run_id;
  before_create_ = std::move(before_create);
  announced_.clear();
  services_.clear();
}

void ProcessRuntime::require_run() const {
  if (run_id_.empty()) throw std::logic_error("ProcessRuntime used before begin_run()");
}

fs::path ProcessRuntime::service_directory(const std::string& service) const {
  return fs::absolute(out_dir_ / run_id_ / "services" / service).lexically_normal();
}

ProcessRuntime::ServiceProcess* ProcessRuntime::find_state(const std::string& service) {
  auto found = services_.find(service);
  return found == services_.end() ? nullptr : found->second.get();
}

ProcessRuntime::ServiceProcess& ProcessRuntime::state_of(const std::string& service) {
  require_run();
  if (auto* state = find_state(service)) return *state;
  throw EnvironmentError(fmt::format("run {} has no process for '{}' (the process runtime started none)", run_id_, service));
}

std::optional<RecordedProcess> ProcessRuntime::recorded(const std::string& service) {
  if (auto* state = find_state(service)) {
    reap(*state);
    return state->process;
  }
  return read_pid_file(service_directory(service) / "pid");
}

ContainerInfo ProcessRuntime::start(const ContainerSpec& spec) {
  std::lock_guard lock(mutex_);
  require_run();
  if (auto* existing = find_state(spec.service); existing && existing->process && existing->process->leader_alive())
    throw EnvironmentError(fmt::format("'{}' is already running (pid {})", spec.service, existing->process->pid));
  if (spec.size_limited && ::geteuid() != 0)
    throw EnvironmentError(fmt::format(
        "the process runtime gives '{}' a size-limited filesystem (disk-full, `disk:`) by mounting a tmpfs on its data "
        "directory, which needs root; run firedrill as root or use --runtime docker",
        spec.service));

  auto state = std::make_unique<ServiceProcess>();
  state->spec = spec;
  state->program.kind = program_kind(spec);
  state->directory = service_directory(spec.service);
  state->data = state->directory / "data";
  auto environment = environment_map(spec.env);
  std::vector<std::string> arguments = spec.command;

  switch (state->program.kind) {
    case ProgramKind::postgres: {
      state->program.binary = fmt::format("{}/postgres", postgres_bin);
      state->program.data_path = value_or(environment, "PGDATA", "/var/lib/postgresql/data");
      state->program.stop_signal = SIGINT;
      if (!arguments.empty() && arguments.front() == "postgres") arguments.erase(arguments.begin());
      break;
    }
    case ProgramKind::redis:
      state->program.binary = resolve_program("redis-server");
      state->program.data_path = "/data";
      if (!arguments.empty() && arguments.front() == "redis-server") arguments.erase(arguments.begin());
      // firedrill's server script: this runtime runs the server itself, with the password in a
      // private configuration file (below) instead of the script's standard input.
      if (auto options = redis_server_script_options(arguments)) arguments = std::move(*options);
      // The script runs as the image's shell would (paths rewritten below) and execs the
      // stand-in for redis-sentinel on its PATH, which adds this runtime's port and address.
      if (starts_redis_sentinel(arguments)) {
        state->program.binary = resolve_program("redis-sentinel");
        state->argv = arguments;
        arguments.clear();
        state->script_owns_main_process = true;
      }
      break;
    case ProgramKind::app:
      state->program.binary = fixture_app_binary().string();
      break;
  }
  std::optional<EntrypointScript> script;
  if (state->program.kind == ProgramKind::postgres && !arguments.empty() && !arguments.front().starts_with("-")) {
    script = entrypoint_script(arguments);
    if (script) arguments = script->server;
  }
  // An idle service (a scratch container the actions exec into) runs nothing of its own.
  const bool idle = state->program.kind != ProgramKind::app && arguments == std::vector<std::string>{"sleep", "infinity"};
  if (state->program.kind != ProgramKind::app && !script && !idle && !arguments.empty() && !arguments.front().starts_with("-"))
    throw EnvironmentError(fmt::format(
        "the process runtime runs {} itself and cannot run the command '{}{}' of '{}' (it runs the server's own "
        "options, firedrill's preparation scripts and `sleep infinity`; Patroni and custom entrypoints need "
        "--runtime docker)",
        fs::path(state->program.binary).filename().string(), spec.command.front(), spec.command.size() > 1 ? " ..." : "",
        spec.service));
  if (::access(state->program.binary.c_str(), X_OK) != 0)
    throw EnvironmentError(fmt::format("the process runtime needs {} for '{}' and it is not installed",
                                       state->program.binary, spec.service));
  for (const auto& volume : spec.volumes)
    if (fs::path(volume.path).lexically_normal() != fs::path(state->program.data_path).lexically_normal())
      throw EnvironmentError(fmt::format("the process runtime cannot mount a volume at {} for '{}'; use --runtime docker",
                                         volume.path, spec.service));

  // Servers never run as root: postgres refuses to, and a redis-server's client (the app under
  // test has its password) could otherwise have it write files anywhere.
  if (state->program.kind != ProgramKind::app && ::geteuid() == 0) {
    const char* name = state->program.kind == ProgramKind::postgres ? "postgres" : "redis";
    const passwd* user = ::getpwnam(name);
    if (!user)
      throw EnvironmentError(fmt::format("running as root, the process runtime runs {0} as the user '{0}', and there is none",
                                         name));
    state->run_as = std::make_pair(user->pw_uid, user->pw_gid);
  }

  // A server listens somewhere even when nothing is published (a scratch server of the actions).
  if (state->program.kind != ProgramKind::app && state->spec.ports.empty())
    state->spec.ports = {state->program.kind == ProgramKind::postgres ? 5432 : 6379};
  for (int port : state->spec.ports) {
    auto kept = spec.host_ports.find(port);
    state->ports[port] = kept != spec.host_ports.end() ? kept->second : free_loopback_port();
  }
  const int main_port = state->spec.ports.empty() ? 0 : state->ports.at(state->spec.ports.front());

  // Journalled before its directory exists: what goes in it (the initdb password, the standby's
  // replication settings, data and logs) is removed by `cleanup` (teardown) however the harness dies.
  announce(*state);
  std::error_code error;
  fs::create_directories(state->data, error);
  if (!error) fs::create_directories(state->scratch(), error);
  if (!error) fs::create_directories(state->directory / "bin", error);
  if (!error && ::geteuid() != 0)
    for (const auto& [name, text] : identity_stand_ins) write_program(state->directory / "bin" / name, text);
  if (error)
    throw EnvironmentError(fmt::format("cannot create {} for '{}': {}", state->data.string(), spec.service, error.message()));
  if (spec.size_limited) mount_size_limited(*state);
  // The service's files (its data, configuration and password files, logs) are no other user's.
  ::chmod(state->directory.c_str(), 0700);
  if (state->run_as) {
    if (::chown(state->directory.c_str(), state->run_as->first, state->run_as->second) != 0 ||
        ::chown(state->data.c_str(), state->run_as->first, state->run_as->second) != 0 ||
        ::chown(state->scratch().c_str(), state->run_as->first, state->run_as->second) != 0)
      throw EnvironmentError(fmt::format("cannot give {} to the service's user: {}", state->directory.string(), std::strerror(errno)));
    ::chmod(state->data.c_str(), 0700);
  }

  std::map<std::string, std::string> final_environment = {
      {"PATH", (state->directory / "bin").string() + ":" + search_path}, {"HOME", state->directory.string()}, {"LANG", "C.UTF-8"}};
  for (const auto& [key, value] : environment) final_environment[key] = value;

  switch (state->program.kind) {
    case ProgramKind::postgres: {
      state->socket_directory = state->directory;
      if (state->directory.string().size() > longest_socket_directory) {
        std::string pattern = (fs::temp_directory_path() / "firedrill-socket-XXXXXX").string();
        if (!::mkdtemp(pattern.data()))
          throw EnvironmentError(fmt::format("cannot create a socket directory for '{}': {}", spec.service, std::strerror(errno)));
        state->socket_directory = pattern;
        std::ofstream(state->directory / "socket-directory") << pattern << "\n";
        if (state->run_as && ::chown(pattern.c_str(), state->run_as->first, state->run_as->second) != 0)
          throw EnvironmentError(fmt::format("cannot give {} to the user postgres: {}", pattern, std::strerror(errno)));
      }
      final_environment["PGDATA"] = state->data.string();
      // pgBackRest's defaults are this machine's (/etc/pgbackrest, /tmp/pgbackrest,
      // /var/spool/pgbackrest, port 5432 on /var/run/postgresql); the service's own stand in.
      final_environment["PGBACKREST_CONFIG"] = (state->directory / "etc/pgbackrest/pgbackrest.conf").string();
      final_environment["PGBACKREST_LOCK_PATH"] = (state->scratch() / "pgbackrest").string();
      final_environment["PGBACKREST_SPOOL_PATH"] = (state->scratch() / "pgbackrest-spool").string();
      final_environment["PGBACKREST_PG1_SOCKET_PATH"] = state->socket_directory.string();
      final_environment["PGBACKREST_PG1_PORT"] = std::to_string(main_port);
      const std::vector<std::string> listening = {"-p", std::to_string(main_port), "-k", state->socket_directory.string(),
                                                  "-c", "listen_addresses=127.0.0.1"};
      write_program(state->directory / "bin" / "pg_ctl", pg_ctl_stand_in(state->socket_directory.string()));
      if (idle) {
        state->argv = {resolve_program("sleep"), "infinity"};
        state->script_owns_main_process = true;
        break;
      }
      if (script) {
        // The script runs as root does in the image (as the harness's user) and hands over to the
        // stand-in entrypoint, which becomes the server.
        const auto roots = state->roots();
        state->argv = script->command;
        for (auto& argument : state->argv) argument = with_host_paths(argument, roots);
        state->script_owns_main_process = true;
        write_program(state->directory / "bin" / "docker-entrypoint.sh",
                      entrypoint_stand_in(state->program.binary, listening, state->run_as.has_value()));
        break;
      }
      state->argv = {state->program.binary, "-D", state->data.string()};
      state->argv.insert(state->argv.end(), arguments.begin(), arguments.end());
      state->argv.insert(state->argv.end(), listening.begin(), listening.end());
      break;
    }
    case ProgramKind::redis: {
      // Service names do not resolve here: servers and sentinels announce where the others reach
      // them, which replication and Sentinel hand on to clients.
      final_environment["FIREDRILL_ANNOUNCE_IP"] = "127.0.0.1";
      final_environment["FIREDRILL_ANNOUNCE_PORT"] = std::to_string(main_port);
      const std::vector<std::string> listening = {"--port", std::to_string(main_port), "--bind", "127.0.0.1"};
      if (state->script_owns_main_process) {
        const auto roots = state->roots();
        for (auto& argument : state->argv) argument = with_host_paths(argument, roots);
        // The script wrote the sentinel's configuration as root; the sentinel rewrites it as redis.
        std::string stand_in = state->run_as ? "#!/bin/sh\nchown redis:redis \"$1\"\nexec setpriv --reuid redis --regid redis --init-groups "
                                             : "#!/bin/sh\nexec ";
        stand_in += state->program.binary + " \"$@\"";
        for (const auto& argument : listening) stand_in += " '" + argument + "'";
        write_program(state->directory / "bin" / "redis-sentinel", stand_in + "\n");
        break;
      }
      state->argv = {state->program.binary};
      // The password reaches the server in its configuration file, never as an argument.
      if (const auto password = environment.find("REDIS_PASSWORD"); password != environment.end()) {
        const fs::path configuration = state->directory / "redis.conf";
        write_private_file(configuration,
                           fmt::format("requirepass {0}\nmasterauth {0}\n", redis_config_quoted(password->second)),
                           state->run_as, fmt::format("the configuration of '{}'", spec.service));
        state->argv.push_back(configuration.string());
      }
      state->argv.insert(state->argv.end(), arguments.begin(), arguments.end());
      for (const std::string& argument :
           {std::string("--replica-announce-ip"), std::string("127.0.0.1"), std::string("--replica-announce-port"),
            std::to_string(main_port), std::string("--dir"), state->data.string(), std::string("--daemonize"),
            std::string("no")})
        state->argv.push_back(argument);
      state->argv.insert(state->argv.end(), listening.begin(), listening.end());
      break;
    }
    case ProgramKind::app:
      final_environment["PORT"] = std::to_string(main_port);
      // On this machine the app's network is everyone's: it listens where the harness reaches it.
      final_environment["LISTEN_ADDRESS"] = "127.0.0.1";
      state->argv = {state->program.binary};
      state->argv.insert(state->argv.end(), arguments.begin(), arguments.end());
      break;
  }
  for (const auto& [key, value] : final_environment) state->environment.push_back(key + "=" + value);

  ServiceProcess& placed = *(services_[spec.service] = std::move(state));
  // A standby's clone or a restore lays the data directory down itself.
  if (placed.program.kind == ProgramKind::postgres && !placed.spec.data_from_command && !idle) initialise_postgres(placed);
  launch(placed);
  return inspect(spec.service);
}

std::optional<fs::path> ProcessRuntime::announce(const ServiceProcess& state) {
  // Announced once per service, before its directory and first process exist (write-ahead), and
  // so is its cgroup, when this machine lets firedrill make one.
  std::optional<fs::path> cgroup;
  if (const auto root = service_cgroup_root()) cgroup = service_cgroup_path(*root, run_id_, state.spec.service);
  if (announced_.insert(state.pid_file().string()).second && before_create_) {
    before_create_("process", state.pid_file().string());
    if (cgroup) before_create_("cgroup", cgroup->string());
  }
  return cgroup;
}

int ProcessRuntime::spawn(ServiceProcess& state, const std::vector<std::string>& argv,
                          const std::vector<std::string>& environment, const fs::path& input, bool as_service_user) {
  const std::optional<fs::path> cgroup = announce(state);
  if (cgroup) {
    try {
      create_service_cgroup(*cgroup);
    } catch (const std::exception& error) {
      throw EnvironmentError(fmt::format("cannot prepare the process of '{}': {}", state.spec.service, error.what()));
    }
  }

  const int log = ::open(state.log_file().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int stdin_fd = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
  int go[2] = {-1, -1}, report[2] = {-1, -1};
  if (log < 0 || stdin_fd < 0 || ::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(report, O_CLOEXEC) != 0) {
    const std::string why = std::strerror(errno);
    for (int fd : {log, stdin_fd, go[0], go[1], report[0], report[1]})
      if (fd >= 0) ::close(fd);
    throw EnvironmentError(fmt::format("cannot prepare the process of '{}': {}", state.spec.service, why));
  }
  const std::string program = resolve_program(argv.front(), state.directory / "bin");
  std::vector<char*> arguments, variables;
  for (const auto& argument : argv) arguments.push_back(const_cast<char*>(argument.c_str()));
  arguments.push_back(nullptr);
  for (const auto& variable : environment) variables.push_back(const_cast<char*>(variable.c_str()));
  variables.push_back(nullptr);
  const std::string directory = state.directory.string();
  const bool switch_user = as_service_user && state.run_as.has_value();
  const uid_t user_id = switch_user ? state.run_as->first : 0;
  const bool private_files = state.program.kind == ProgramKind::redis;
  const gid_t group_id = switch_user ? state.run_as->second : 0;

  const pid_t pid = fork_awaited_child();
  if (pid < 0) {
    for (int fd : {log, stdin_fd, go[0], go[1], report[0], report[1]}) ::close(fd);
    throw EnvironmentError(fmt::format("cannot fork the process of '{}': {}", state.spec.service, std::strerror(errno)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec: the harness has other threads.
    ::setpgid(0, 0);
    ::dup2(stdin_fd, STDIN_FILENO);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    // Nothing else of the harness reaches the service: its sockets (the writers' connections, the
    // probes', the fault proxies' listeners) would otherwise stay open in every process the service
    // ever forks, a connection the harness closed would live on, and a service could read or
    // write the harness's traffic. Closed at exec, so the two pipes below still work until then.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    // A configuration Redis rewrites (CONFIG REWRITE after a failover) holds the password: it
    // stays private. (Postgres sets its own umask; root's scripts write for the server's user.)
    if (private_files) ::umask(077);
    char byte = 0;
    // No go-ahead means the harness died before recording this process: it must not run.
    if (::read(go[0], &byte, 1) != 1) ::_exit(1);
    SpawnFailure failure;
    if (switch_user && (::setgroups(0, nullptr) != 0 || ::setgid(group_id) != 0 || ::setuid(user_id) != 0)) {
      failure = {1, errno};
    } else if (::chdir(directory.c_str()) != 0) {
      failure = {2, errno};
    } else {
      ::execve(program.c_str(), arguments.data(), variables.data());
      failure = {3, errno};
    }
    [[maybe_unused]] auto written = ::write(report[1], &failure, sizeof failure);
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(go[0]);
  ::close(report[1]);
  ::close(log);
  ::close(stdin_fd);
  RecordedProcess record{pid, process_start_time(pid).value_or(0), pid, cgroup.value_or(fs::path()), ::getsid(0)};
  try {
    // Moved before it may run, so that everything it will start is in the cgroup too.
    if (cgroup) move_into_service_cgroup(*cgroup, pid);
    write_pid_file(state.pid_file(), record);
  } catch (const std::exception& error) {
    ::close(go[1]);
    ::close(report[0]);
    ::waitpid(pid, nullptr, 0);
    forget_awaited_child(pid);
    throw EnvironmentError(fmt::format("cannot record the process of '{}': {}", state.spec.service, error.what()));
  }
  state.process = record;
  state.child = true;
  [[maybe_unused]] auto sent = ::write(go[1], "x", 1);
  ::close(go[1]);
  SpawnFailure failure;
  const auto got = ::read(report[0], &failure, sizeof failure);
  ::close(report[0]);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    ::waitpid(pid, nullptr, 0);
    forget_awaited_child(pid);
    state.child = false;
    const char* stage = failure.stage == 1 ? "cannot switch to its user" : failure.stage == 2 ? "cannot enter" : "cannot run";
    std::string hint;
    if (failure.stage == 2 && switch_user)
      hint = " (as root, postgres runs as the user postgres, which must be able to traverse every parent directory; "
             "choose an --out directory it can reach)";
    throw EnvironmentError(fmt::format("the process of '{}' {} {}: {}{}", state.spec.service, stage,
                                       failure.stage == 2 ? directory : program, std::strerror(failure.error), hint));
  }
  return pid;
}

void ProcessRuntime::launch(ServiceProcess& state) {
  spawn(state, state.argv, state.environment, "/dev/null", !state.script_owns_main_process);
}

void ProcessRuntime::run_to_completion(ServiceProcess& state, const std::vector<std::string>& argv, const fs::path& input,
                                       std::chrono::seconds timeout, const std::string& what) {
  const int pid = spawn(state, argv, state.environment, input);
  const auto code = wait_child(pid, Clock::now() + timeout);
  state.child = false;
  if (!code) {
    kill_recorded_processes(*state.process, std::chrono::seconds(5));
    ::waitpid(pid, nullptr, 0);
    forget_awaited_child(pid);
  }
  if (!code || *code != 0)
    throw EnvironmentError(fmt::format("{} of '{}' {}\nlast log lines:\n{}", what, state.spec.service,
                                       code ? fmt::format("failed (exit code {})", *code)
                                            : fmt::format("did not finish within {} s", timeout.count()),
                                       tail_lines(read_whole_file(state.log_file()), 10)));
}

void ProcessRuntime::initialise_postgres(ServiceProcess& state) {
  std::ofstream log(state.log_file(), std::ios::app);
  if (fs::exists(state.data / "PG_VERSION")) {
    log << "PostgreSQL Database directory appears to contain a database; Skipping initialization\n";
    return;
  }
  const auto environment = environment_map(state.spec.env);
  const std::string user = value_or(environment, "POSTGRES_USER", "postgres");
  const std::string database = value_or(environment, "POSTGRES_DB", user);
  const std::string password = value_or(environment, "POSTGRES_PASSWORD", "");
  const std::string method = value_or(environment, "POSTGRES_HOST_AUTH_METHOD", "scram-sha-256");
  if (password.empty() && method != "trust")
    throw EnvironmentError(fmt::format("'{}': the database is uninitialised and POSTGRES_PASSWORD is not set", state.spec.service));

  std::vector<std::string> initdb = {fmt::format("{}/initdb", postgres_bin), "--username=" + user, "--data-checksums",
                                     "-D", state.data.string(), "--auth-local=trust", "--auth-host=" + method};
  const fs::path password_file = state.directory / "initdb-password";
  if (!password.empty()) {
    write_private_file(password_file, password + "\n", state.run_as,
                       fmt::format("the initdb password file of '{}'", state.spec.service));
    initdb.push_back("--pwfile=" + password_file.string());
  }
  for (const auto& word : split_words(value_or(environment, "POSTGRES_INITDB_ARGS", ""))) initdb.push_back(word);
  try {
    run_to_completion(state, initdb, "/dev/null", std::chrono::seconds(120), "initdb");
  } catch (...) {
    fs::remove(password_file);
    throw;
  }
  fs::remove(password_file);

  {
    std::ofstream hba(state.data / "pg_hba.conf", std::ios::trunc);
    hba << "# TYPE  DATABASE     USER  ADDRESS  METHOD\n"
        << "local   all          all            trust\n"
        << "local   replication  all            trust\n"
        << "host    all          all   all      " << method << "\n"
        << "host    replication  all   all      " << method << "\n";
  }
  if (state.run_as && ::chown((state.data / "pg_hba.conf").c_str(), state.run_as->first, state.run_as->second) != 0)
    log << "cannot give pg_hba.conf to the service's user: " << std::strerror(errno) << "\n";

  if (database != "postgres") {
    // Single-user mode needs no socket and no port: nothing can connect before this is done.
    std::string quoted;
    for (char c : database) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    const fs::path script = state.directory / "initdb.sql";
    std::ofstream(script, std::ios::trunc) << "CREATE DATABASE \"" << quoted << "\";\n";
    run_to_completion(state, {fmt::format("{}/postgres", postgres_bin), "--single", "-D", state.data.string(), "postgres"},
                      script, std::chrono::seconds(60), "creating the database");
    fs::remove(script);
  }
  std::ofstream(state.log_file(), std::ios::app) << "\nPostgreSQL init process complete; ready for start up.\n\n";
}

bool ProcessRuntime::reap(ServiceProcess& state) {
  if (state.child && state.process) {
    const pid_t done = ::waitpid(state.process->pid, nullptr, WNOHANG);
    if (done == state.process->pid || done < 0) {
      state.child = false;
      forget_awaited_child(state.process->pid);
    }
  }
  return state.process && state.process->leader_alive();
}

ContainerInfo ProcessRuntime::inspect(const std::string& service) {
  std::lock_guard lock(mutex_);
  ServiceProcess& state = state_of(service);
  ContainerInfo info;
  info.id = state.process ? fmt::format("pid {}", state.process->pid) : std::string("not started");
  info.name = fmt::format("fd-{}-{}", run_id_, service);
  info.image_id = state.program.binary;
  info.ip = "127.0.0.1";
  info.gateway = "127.0.0.1";
  info.host_ports = state.ports;
  return info;
}

PeerAddress ProcessRuntime::peer_address(const std::string& service, int container_port) {
  std::lock_guard lock(mutex_);
  if (auto* state = find_state(service))
    if (auto port = state->ports.find(container_port); port != state->ports.end()) return {"127.0.0.1", port->second};
  return {"127.0.0.1", container_port};
}

ExecResult ProcessRuntime::exec(const std::string& service, const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout) {
  if (argv.empty()) throw std::invalid_argument("exec needs a command");
  std::vector<std::string> command = argv;
  std::vector<std::string> environment;
  std::string directory;
  int service_group = 0;
  std::string service_cgroup_procs;  // empty: none
  {
    std::lock_guard lock(mutex_);
    ServiceProcess& state = state_of(service);
    // What an exec leaves running (a server pg_ctl started) belongs to the service, as in a
    // container: it joins the service's process group and stops with it.
    if (reap(state)) {
      service_group = state.process->process_group;
      if (!state.process->cgroup.empty()) service_cgroup_procs = (state.process->cgroup / "cgroup.procs").string();
    }
    const auto roots = state.roots();
    for (auto& argument : command) argument = with_host_paths(argument, roots);
    environment = state.environment;
    directory = state.directory.string();
    const int main_port = state.spec.ports.empty() ? 0 : state.ports.at(state.spec.ports.front());
    if (state.program.kind == ProgramKind::postgres) {
      environment.push_back("PGHOST=" + state.socket_directory.string());
      environment.push_back("PGPORT=" + std::to_string(main_port));
    }
    const bool names_port = std::find(command.begin(), command.end(), "-p") != command.end() ||
                            std::find(command.begin(), command.end(), "-h") != command.end();
    if (state.program.kind == ProgramKind::redis && fs::path(command.front()).filename() == "redis-cli" && !names_port)
      command.insert(command.begin() + 1, {"-h", "127.0.0.1", "-p", std::to_string(main_port)});
  }
  const std::string program = resolve_program(command.front(), fs::path(directory) / "bin");
  std::vector<char*> arguments, variables;
  for (const auto& argument : command) arguments.push_back(const_cast<char*>(argument.c_str()));
  arguments.push_back(nullptr);
  for (const auto& variable : environment) variables.push_back(const_cast<char*>(variable.c_str()));
  variables.push_back(nullptr);

  int output[2];
  if (::pipe2(output, O_CLOEXEC) != 0) throw EnvironmentError(fmt::format("cannot exec in '{}': {}", service, std::strerror(errno)));
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = fork_awaited_child();
  if (pid < 0) {
    ::close(output[0]);
    ::close(output[1]);
    ::close(null);
    throw EnvironmentError(fmt::format("cannot exec in '{}': {}", service, std::strerror(errno)));
  }
  if (pid == 0) {
    if (service_group == 0 || ::setpgid(0, service_group) != 0) ::setpgid(0, 0);
    if (!service_cgroup_procs.empty()) {
      // "0" moves the writer itself: done here, before exec, nothing it starts can be outside.
      const int procs = ::open(service_cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (procs >= 0) {
        [[maybe_unused]] auto moved = ::write(procs, "0", 1);
        ::close(procs);
      }
    }
    ::dup2(null, STDIN_FILENO);
    ::dup2(output[1], STDOUT_FILENO);
    ::dup2(output[1], STDERR_FILENO);
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // as for the service's own processes (spawn)
    if (::chdir(directory.c_str()) != 0) ::_exit(126);
    ::execve(program.c_str(), arguments.data(), variables.data());
    constexpr const char message[] = "exec: cannot run the command\n";
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  if (service_group == 0 || ::setpgid(pid, service_group) != 0) ::setpgid(pid, pid);
  ::close(output[1]);
  ::close(null);
  ExecResult result;
  const auto deadline = Clock::now() + timeout;
  bool timed_out = false;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd readable{output[0], POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(std::min<long long>(left, 100))) < 0 && errno != EINTR) break;
    if (readable.revents == 0) continue;
    char buffer[4096];
    const auto got = ::read(output[0], buffer, sizeof buffer);
    if (got <= 0) break;
    result.output.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(output[0]);
  if (timed_out) {
    if (service_group == 0) ::killpg(pid, SIGKILL);
    else ::kill(pid, SIGKILL);
  }
  int status = 0;
  // A service killed meanwhile may have taken this process with it; it was reaped then.
  const bool reaped = ::waitpid(pid, &status, 0) == pid;
  forget_awaited_child(pid);
  if (!reaped) status = SIGKILL;
  if (timed_out) {
    result.exit_code = -1;
    result.output += fmt::format("\n[exec timed out after {} ms]\n", timeout.count());
  } else {
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return result;
}

void ProcessRuntime::kill(const std::string& service, const std::string& signal) {
  std::lock_guard lock(mutex_);
  require_run();
  const int number = signal_number(signal);
  const auto process = recorded(service);
  if (!process || !process->leader_alive())
    throw std::runtime_error(fmt::format("cannot send SIG{} to '{}': it is not running", signal, service));
  if (number != SIGKILL) {
    ::kill(process->pid, number);
    return;
  }
  // As SIGKILL to a container's first process ends its whole pid namespace: every process of the
  // service is gone when this returns (PostgreSQL's backends, each in a session of its own,
  // included).
  if (!kill_recorded_processes(*process, std::chrono::seconds(5)))
    throw std::runtime_error(fmt::format("'{}' still has processes 5 s after SIGKILL", service));
  if (auto* state = find_state(service)) reap(*state);
}

void ProcessRuntime::pause(const std::string& service) {
  std::lock_guard lock(mutex_);
  require_run();
  const auto process = recorded(service);
  if (!process || !freeze_recorded_processes(*process, true))
    throw std::runtime_error(fmt::format("cannot pause '{}': it is not running", service));
}

void ProcessRuntime::unpause(const std::string& service) {
  std::lock_guard lock(mutex_);
  require_run();
  if (const auto process = recorded(service)) freeze_recorded_processes(*process, false);
}

void ProcessRuntime::start_again(const std::string& service) {
  std::lock_guard lock(mutex_);
  ServiceProcess& state = state_of(service);
  if (reap(state)) return;
  // What is left of the old group goes first, as nothing of a stopped container runs on.
  if (state.process) kill_recorded_processes(*state.process, std::chrono::seconds(5));
  launch(state);
}

void ProcessRuntime::restart(const std::string& service, std::chrono::seconds grace) {
  std::lock_guard lock(mutex_);
  ServiceProcess& state = state_of(service);
  if (reap(state)) {
    ::kill(state.process->pid, state.program.stop_signal);
    const auto deadline = Clock::now() + grace;
    while (reap(state) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (state.process) kill_recorded_processes(*state.process, std::chrono::seconds(5));
  reap(state);
  launch(state);
}

bool ProcessRuntime::is_running(const std::string& service) {
  std::lock_guard lock(mutex_);
  require_run();
  auto* state = find_state(service);
  if (!state) {
    const auto process = read_pid_file(service_directory(service) / "pid");
    return process && process->leader_alive();
  }
  if (reap(*state)) return true;
  // Nothing of a container outlives its first process.
  if (state->process) signal_recorded_processes(*state->process, SIGKILL);
  return false;
}

std::string ProcessRuntime::read_logs(const std::string& service, std::optional<int> last_lines) {
  require_run();
  // A poll needs a few lines: a megabyte of the end holds them, however long the log has grown.
  if (last_lines) return tail_lines(read_file_tail(service_directory(service) / "log", std::uintmax_t{1} << 20).first, *last_lines);
  // As much as the Docker runtime keeps of a container's log, with the same note when it is more.
  constexpr std::uintmax_t kept_bytes = std::uintmax_t{64} << 20;
  auto [text, skipped] = read_file_tail(service_directory(service) / "log", kept_bytes);
  if (skipped == 0) return text;
  return fmt::format("[firedrill: this log is larger than {} MiB; only its last {} bytes follow]\n", kept_bytes >> 20,
                     kept_bytes) +
         text;
}

ConfinedPath ProcessRuntime::host_path(const std::string& service, const std::string& container_path) {
  std::lock_guard lock(mutex_);
  ServiceProcess& state = state_of(service);
  const fs::path inside = fs::path(container_path).lexically_normal();
  if (!inside.is_absolute())
    throw EnvironmentError(fmt::format("'{}' is not an absolute path of '{}'", container_path, service));
  // The deepest root the path lies under: a container path (/tmp, the data directory, a mounted
  // repository) or the directory of this machine it stands for (a path the service reported
  // itself, such as redis's `dir`). The rest is the service's to name, so it stays below that root.
  std::optional<ConfinedPath> found;
  std::size_t found_depth = 0;
  for (const auto& [container_root, host_root] : state.roots()) {
    const fs::path root = fs::path(container_root).lexically_normal();
    const auto rest = inside.lexically_relative(root);
    if (rest.empty() || *rest.begin() == "..") continue;
    const auto depth = static_cast<std::size_t>(std::distance(root.begin(), root.end()));
    if (!found || depth > found_depth) {
      found = ConfinedPath{host_root, rest == "." ? fs::path() : rest};
      found_depth = depth;
    }
  }
  if (found) return *found;
  throw EnvironmentError(fmt::format("the process runtime keeps only the data directory ({}) and /tmp of '{}', not {}",
                                     state.program.data_path.empty() ? "none" : state.program.data_path, service,
                                     container_path));
}

namespace {

/// Copies everything from one descriptor to another; false with errno set on failure.
bool copy_descriptor(int from, int to) {
  std::vector<char> buffer(1 << 16);
  while (true) {
    const auto got = ::read(from, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return false;
    if (got == 0) return true;
    for (ssize_t done = 0; done < got;) {
      const auto written = ::write(to, buffer.data() + done, static_cast<std::size_t>(got - done));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return false;
      done += written;
    }
  }
}

}  // namespace

void ProcessRuntime::copy_from(const std::string& service, const std::string& container_path, const fs::path& host_path) {
  const ConfinedPath source = this->host_path(service, container_path);
  fs::path partial = host_path;
  partial += ".partial";
  std::optional<ConfinedFile> input;
  try {
    input.emplace(source, O_RDONLY | O_NONBLOCK);
  } catch (const std::runtime_error& error) {
    throw EnvironmentError(fmt::format("cannot copy {} out of '{}': {}", container_path, service, error.what()));
  }
  const int output = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (output < 0)
    throw EnvironmentError(fmt::format("cannot copy {} out of '{}': cannot create {}: {}", container_path, service,
                                       partial.string(), std::strerror(errno)));
  bool copied = copy_descriptor(input->descriptor(), output);
  const int copy_errno = errno;
  copied = ::close(output) == 0 && copied;
  std::error_code error;
  if (copied) fs::rename(partial, host_path, error);
  if (!copied || error) {
    std::error_code ignored;
    fs::remove(partial, ignored);
    throw EnvironmentError(fmt::format("cannot copy {} out of '{}': {}", container_path, service,
                                       copied ? error.message() : std::strerror(copy_errno)));
  }
}

void ProcessRuntime::copy_to(const std::string& service, const fs::path& host_path, const std::string& container_path) {
  const ConfinedPath target = this->host_path(service, container_path);
  const auto fail = [&](const std::string& why) {
    return EnvironmentError(
        fmt::format("cannot copy {} into '{}' as {}: {}", host_path.string(), service, container_path, why));
  };
  const int input = ::open(host_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (input < 0) throw fail(std::strerror(errno));
  int output = -1;
  try {
    output = open_confined(target, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  } catch (const std::runtime_error& error) {
    ::close(input);
    throw fail(error.what());
  }
  bool copied = copy_descriptor(input, output);
  const int copy_errno = errno;
  ::close(input);
  ::fchmod(output, 0644);
  {
    std::lock_guard lock(mutex_);
    if (auto* state = find_state(service); state && state->run_as) {
      [[maybe_unused]] auto ignored = ::fchown(output, state->run_as->first, state->run_as->second);
    }
  }
  copied = ::close(output) == 0 && copied;
  if (!copied) throw fail(std::strerror(copy_errno));
}

void ProcessRuntime::stop_processes(ServiceProcess& state, std::vector<std::string>& errors) {
  if (!state.process) return;
  if (!kill_recorded_processes(*state.process, std::chrono::seconds(5)))
    errors.push_back(fmt::format("process group {} of '{}' is still running after SIGKILL", state.process->process_group,
                                 state.spec.service));
  if (state.child) {
    ::waitpid(state.process->pid, nullptr, 0);
    forget_awaited_child(state.process->pid);
    state.child = false;
  }
}

void ProcessRuntime::remove(const std::string& service) {
  std::lock_guard lock(mutex_);
  require_run();
  std::vector<std::string> errors;
  const fs::path directory = service_directory(service);
  if (auto* state = find_state(service)) stop_processes(*state, errors);
  // The pid file names the cgroup too, which goes with the processes.
  kill_recorded_processes({directory / "pid"}, errors);
  release_data_mount(directory, errors);
  if (!errors.empty()) throw EnvironmentError(fmt::format("cannot remove '{}': {}", service, errors.front()));
  std::error_code ignored;
  const std::string socket_directory = read_whole_file(directory / "socket-directory");
  if (!socket_directory.empty()) fs::remove_all(socket_directory.substr(0, socket_directory.find('\n')), ignored);
  fs::remove(directory / "socket-directory", ignored);
  fs::remove_all(directory / "data", ignored);
  fs::remove(directory / "pid", ignored);
  services_.erase(service);
}

void ProcessRuntime::destroy(const std::string& service) { remove(service); }

void ProcessRuntime::teardown() {
  std::lock_guard lock(mutex_);
  if (run_id_.empty()) return;
  std::vector<std::string> errors;
  for (auto& [name, state] : services_) stop_processes(*state, errors);
  const fs::path services = out_dir_ / run_id_ / "services";
  std::vector<fs::path> pid_files;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(services, error))
    if (fs::exists(entry.path() / "pid")) pid_files.push_back(entry.path() / "pid");
  kill_recorded_processes(pid_files, errors);
  reap_orphans();
  for (const auto& entry : fs::directory_iterator(services, error)) release_data_mount(entry.path(), errors);
  if (!errors.empty()) {
    std::string listing;
    for (const auto& line : errors) listing += "\n  " + line;
    throw EnvironmentError(fmt::format("teardown of run {} could not stop:{}", run_id_, listing));
  }
  for (const auto& entry : fs::directory_iterator(services, error)) {
    const std::string socket_directory = read_whole_file(entry.path() / "socket-directory");
    std::error_code ignored;
    if (!socket_directory.empty()) fs::remove_all(socket_directory.substr(0, socket_directory.find('\n')), ignored);
  }
  // The logs were collected into the run's logs/ folder; the data goes as a container's volumes do.
  fs::remove_all(services, error);
  services_.clear();
}

fs::path ProcessRuntime::size_limited_mount(const std::string& service) {
  std::lock_guard lock(mutex_);
  require_run();
  const fs::path data = service_directory(service) / "data";
  if (!is_mount_point(data))
    throw EnvironmentError(
        fmt::format("'{}' has no size-limited filesystem (nothing mounted on {}); give the service `disk:`", service,
                    data.string()));
  return data;
}

void ProcessRuntime::mount_size_limited(ServiceProcess& state) {
  if (is_mount_point(state.data)) return;
  // Journalled before it exists, so cleanup finds it whenever the harness dies.
  if (before_create_) before_create_("mount", state.data.string());
  const std::string options = fmt::format("size={},mode=0700", state.spec.size_limited->bytes);
  if (::mount("tmpfs", state.data.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
    throw EnvironmentError(fmt::format("cannot mount a {}-byte tmpfs on {} for '{}': {}", state.spec.size_limited->bytes,
                                       state.data.string(), state.spec.service, std::strerror(errno)));
}

void ProcessRuntime::release_data_mount(const fs::path& directory, std::vector<std::string>& errors) {
  const fs::path data = directory / "data";
  if (is_mount_point(data)) unmount_stacked(data, errors);
}

}  // namespace firedrill
