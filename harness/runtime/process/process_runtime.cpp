#include "harness/runtime/process/process_runtime.hpp"

#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>

#include "core/ports.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/process/child_reaper.hpp"
#include "harness/runtime/process/command_line.hpp"
#include "harness/runtime/process/process_files.hpp"
#include "harness/runtime/process/recipes/registry.hpp"
#include "harness/runtime/process/service_cgroup.hpp"
#include "harness/runtime/process/spawn.hpp"

namespace firedrill {
namespace {

using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

/// The last `max_bytes` of a file (all of a shorter one), and how many bytes came before them.
std::pair<std::string, std::uintmax_t> read_file_tail(const fs::path& path, std::uintmax_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  const auto size = static_cast<std::uintmax_t>(in.tellg());
  const std::uintmax_t skipped = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(skipped));
  return {std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), skipped};
}

}  // namespace

struct ProcessRuntime::ServiceProcess {
  ContainerSpec spec;
  std::unique_ptr<ProgramRecipe> recipe;
  ServicePlace place;
  std::map<int, int> ports;  // container port -> 127.0.0.1 port
  Launch main_process;  // as its recipe placed it
  std::vector<std::string> environment;  // the whole environment of its processes (KEY=VALUE)
  std::optional<RecordedProcess> process;
  bool child = false;  // this runtime's child, reaped with waitpid

  const Program& program() const { return recipe->program(); }
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
  state->recipe = recipe_for(spec);
  const Program& program = state->program();
  if (::access(program.binary.c_str(), X_OK) != 0)
    throw EnvironmentError(fmt::format("the process runtime needs {} for '{}' and it is not installed", program.binary,
                                       spec.service));
  for (const auto& volume : spec.volumes)
    if (fs::path(volume.path).lexically_normal() != fs::path(program.data_path).lexically_normal())
      throw EnvironmentError(fmt::format("the process runtime cannot mount a volume at {} for '{}'; use --runtime docker",
                                         volume.path, spec.service));

  ServicePlace& place = state->place;
  place.service = spec.service;
  place.directory = service_directory(spec.service);
  place.data_path = program.data_path;
  place.host_directories = spec.host_directories;
  if (!program.user.empty() && ::geteuid() == 0) {
    const passwd* user = ::getpwnam(program.user.c_str());
    if (!user)
      throw EnvironmentError(fmt::format("running as root, the process runtime runs {0} as the user '{0}', and there is none",
                                         program.user));
    place.run_as = std::make_pair(user->pw_uid, user->pw_gid);
  }
  // A server listens somewhere even when nothing is published (a scratch server of the actions).
  if (state->spec.ports.empty() && program.default_port != 0) state->spec.ports = {program.default_port};
  for (int port : state->spec.ports) {
    auto kept = spec.host_ports.find(port);
    state->ports[port] = kept != spec.host_ports.end() ? kept->second : free_loopback_port(PortShare::local_programs);
  }
  place.port = state->spec.ports.empty() ? 0 : state->ports.at(state->spec.ports.front());

  // Journalled before its directory exists: what goes in it (the initdb password, the standby's
  // replication settings, data and logs) is removed by `cleanup` (teardown) however the harness dies.
  announce(*state);
  place.create();
  if (spec.size_limited) mount_size_limited(*state);
  place.make_private();

  state->main_process = state->recipe->place(place);
  std::map<std::string, std::string> environment = {
      {"PATH", place.stand_ins().string() + ":" + service_search_path}, {"HOME", place.directory.string()}, {"LANG", "C.UTF-8"}};
  // A container path in a variable (a file in the service's /tmp, say) is where that file is here.
  for (const auto& [key, value] : environment_map(spec.env)) environment[key] = place.on_host(value);
  for (const auto& [key, value] : state->main_process.environment) environment[key] = value;
  for (const auto& [key, value] : environment) state->environment.push_back(key + "=" + value);

  ServiceProcess& placed = *(services_[spec.service] = std::move(state));
  placed.recipe->prepare(placed.place, [&](const std::vector<std::string>& argv, const fs::path& input,
                                           std::chrono::seconds timeout, const std::string& what) {
    run_to_completion(placed, argv, input, timeout, what);
  });
  launch(placed);
  return inspect(spec.service);
}

std::optional<fs::path> ProcessRuntime::announce(const ServiceProcess& state) {
  // Announced once per service, before its directory and first process exist (write-ahead), and
  // so is its cgroup, when this machine lets firedrill make one.
  std::optional<fs::path> cgroup;
  if (const auto root = service_cgroup_root()) cgroup = service_cgroup_path(*root, run_id_, state.spec.service);
  if (announced_.insert(state.place.pid_file().string()).second && before_create_) {
    before_create_("process", state.place.pid_file().string());
    if (cgroup) before_create_("cgroup", cgroup->string());
  }
  return cgroup;
}

int ProcessRuntime::spawn(ServiceProcess& state, const std::vector<std::string>& argv, const fs::path& input,
                          bool as_service_user) {
  SpawnRequest request{argv, state.environment, input, as_service_user, state.program().private_files, announce(state),
                       fs::path(state.program().binary).filename().string(), state.program().user};
  if (request.cgroup) {
    try {
      create_service_cgroup(*request.cgroup);
    } catch (const std::exception& error) {
      throw EnvironmentError(fmt::format("cannot prepare the process of '{}': {}", state.spec.service, error.what()));
    }
  }
  state.child = false;
  const int pid = spawn_service_process(state.place, request, state.process);
  state.child = true;
  return pid;
}

void ProcessRuntime::launch(ServiceProcess& state) {
  spawn(state, state.main_process.argv, "/dev/null", state.main_process.as_service_user);
}

void ProcessRuntime::run_to_completion(ServiceProcess& state, const std::vector<std::string>& argv, const fs::path& input,
                                       std::chrono::seconds timeout, const std::string& what) {
  const int pid = spawn(state, argv, input);
  const auto code = wait_child(pid, SteadyClock::now() + timeout);
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
                                       tail_lines(read_file_tail(state.place.log_file(), std::uintmax_t{1} << 20).first, 10)));
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
  info.image_id = state.program().binary;
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
  std::vector<std::string> command;
  std::vector<std::string> environment;
  ServicePlace place;
  std::optional<RecordedProcess> running;
  {
    std::lock_guard lock(mutex_);
    ServiceProcess& state = state_of(service);
    if (reap(state)) running = state.process;
    place = state.place;
    for (const auto& argument : argv) command.push_back(state.place.on_host(argument));
    environment = state.environment;
    state.recipe->adapt_exec(state.place, command, environment);
  }
  // Outside the lock: a command may run for minutes while the drill signals other services.
  return run_beside_service(place, running, command, environment, timeout);
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
    ::kill(state.process->pid, state.program().stop_signal);
    const auto deadline = SteadyClock::now() + grace;
    while (reap(state) && SteadyClock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
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
  require_run();
  ServicePlace found_place;
  const ServicePlace* place = nullptr;
  if (auto* state = find_state(service)) {
    place = &state->place;
  } else if (fs::is_directory(service_directory(service))) {
    // A service of a run this runtime did not start (a fault reverted from the journal of a
    // harness that died): the places of its directory (/tmp, ...), not the image's data directory,
    // which only its spec names.
    found_place.service = service;
    found_place.directory = service_directory(service);
    place = &found_place;
  } else {
    place = &state_of(service).place;
  }
  const fs::path inside = fs::path(container_path).lexically_normal();
  if (!inside.is_absolute())
    throw EnvironmentError(fmt::format("'{}' is not an absolute path of '{}'", container_path, service));
  // The rest of the path is the service's to name, so it stays below the root it lies under.
  if (auto found = place->host_path(inside)) return *found;
  throw EnvironmentError(fmt::format("the process runtime keeps only the data directory ({}) and /tmp of '{}', not {}",
                                     place->data_path.empty() ? "none" : place->data_path, service, container_path));
}

void ProcessRuntime::copy_from(const std::string& service, const std::string& container_path, const fs::path& host_path) {
  copy_out(this->host_path(service, container_path), host_path, fmt::format("{} out of '{}'", container_path, service));
}

void ProcessRuntime::copy_to(const std::string& service, const fs::path& host_path, const std::string& container_path) {
  const ConfinedPath target = this->host_path(service, container_path);
  std::optional<std::pair<uid_t, gid_t>> owner;
  {
    std::lock_guard lock(mutex_);
    if (auto* state = find_state(service)) owner = state->place.run_as;
  }
  copy_in(host_path, target, owner, fmt::format("{} into '{}' as {}", host_path.string(), service, container_path));
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
  remove_socket_directory(directory);
  release_postgres_shared_memory(directory / "data");
  std::error_code ignored;
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
    remove_socket_directory(entry.path());
    release_postgres_shared_memory(entry.path() / "data");
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
  if (is_mount_point(state.place.data())) return;
  // Journalled before it exists, so cleanup finds it whenever the harness dies.
  if (before_create_) before_create_("mount", state.place.data().string());
  state.place.mount_size_limited(state.spec.size_limited->bytes);
}

}  // namespace firedrill
