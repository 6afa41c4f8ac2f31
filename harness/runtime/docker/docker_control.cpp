// The Docker runtime's capabilities beyond its core: process control (signals, a freeze through
// the container's own freezer before the engine is asked, restarts), file access (a container
// path mapped to this machine's side of a mount or of the overlay filesystem; copies through the
// archive endpoint) and storage (size-limited filesystems, removal, destruction).
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <optional>

#include <fmt/format.h>

#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/docker/docker_runtime.hpp"
#include "harness/runtime/docker/freezer.hpp"
#include "harness/runtime/docker/tar_archive.hpp"
#include "harness/runtime/process/process_files.hpp"

namespace firedrill {

using nlohmann::json;

void DockerRuntime::kill(const std::string& service, const std::string& signal) {
  send_signal(service, signal, SignalRoute::fastest);
}

std::string DockerRuntime::send_signal(const std::string& service, const std::string& signal, SignalRoute route) {
  require_run(service);
  if (route == SignalRoute::fastest && signal_directly(service, signal)) return "direct";
  api_.post(fmt::format("/containers/{}/kill?signal={}", container_name(service), docker::url_encode(signal)));
  return "engine";
}

bool DockerRuntime::signal_directly(const std::string& service, const std::string& signal) {
  int number = 0;
  try {
    number = signal_number(signal);
  } catch (const std::invalid_argument&) {
    return false;
  }
  // The engine's kill goes through containerd and the shim and, for KILL, waits for the exit
  // there: about 150 ms here, where the signal itself takes microseconds. The engine's own
  // bookkeeping of the exit (another 150-200 ms) is waited for by the next call that asks the
  // engine about the service, not by the fault step.
  const json container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
  const json state = container.value("State", json::object());
  if (!state.value("Running", false) || state.value("Paused", false)) return false;
  const ContainerProcess process(state.value("Pid", 0), container.value("Id", std::string()));
  if (!process.open()) return false;
  if (::syscall(SYS_pidfd_send_signal, process.pidfd(), number, nullptr, 0) != 0) return false;
  if (number == SIGKILL) {
    // As the engine's kill does, return once the process has exited (its whole pid namespace
    // with it).
    pollfd exited{process.pidfd(), POLLIN, 0};
    ::poll(&exited, 1, 10'000);
    std::lock_guard lock(killed_mutex_);
    killed_directly_.insert(service);
  }
  return true;
}

std::optional<std::filesystem::path> DockerRuntime::freezer_control(const std::string& service) {
  const json container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
  return freezer_control_of(container.value("State", json::object()).value("Pid", 0), container.value("Id", std::string()));
}

void DockerRuntime::pause(const std::string& service) {
  require_run(service);
  // The engine freezes and thaws through runc, 10-30 ms after the request and varying with
  // load; writing the container's freezer cgroup directly takes effect at once, which is what
  // lets a pause last exactly its duration. The engine is used where that path is not open to
  // this process (a remote or rootless engine). The engine keeps seeing the container as running,
  // so unpause (and teardown, and cleanup) always thaw it before anything else touches it.
  if (auto control = freezer_control(service)) {
    {
      std::lock_guard lock(frozen_mutex_);
      frozen_through_[service] = *control;
    }
    if (!freeze_cgroup(*control, std::chrono::seconds(5))) {
      thaw_cgroup(*control);
      {
        std::lock_guard lock(frozen_mutex_);
        frozen_through_.erase(service);
      }
      throw EnvironmentError(fmt::format("the processes of '{}' did not freeze within 5 s", service));
    }
    return;
  }
  api_.post(fmt::format("/containers/{}/pause", container_name(service)));
}

void DockerRuntime::unpause(const std::string& service) {
  require_run(service);
  {
    // Paused through its freezer by this runtime: thawing it is the whole of unpausing (the engine
    // never saw the pause), and no engine call competes with the service for the CPU as it wakes.
    std::lock_guard lock(frozen_mutex_);
    if (auto frozen = frozen_through_.find(service); frozen != frozen_through_.end()) {
      thaw_cgroup(frozen->second);
      frozen_through_.erase(frozen);
      return;
    }
  }
  // Paused by the engine, or by a run that died: whatever freezer the container is in, then the
  // engine's own pause.
  const json container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
  const json state = container.value("State", json::object());
  if (auto control = freezer_control_of(state.value("Pid", 0), container.value("Id", std::string()))) thaw_cgroup(*control);
  if (state.value("Paused", false)) api_.post(fmt::format("/containers/{}/unpause", container_name(service)));
}

void DockerRuntime::start_again(const std::string& service) {
  require_run(service);
  api_.post(fmt::format("/containers/{}/start", container_name(service)));
}

void DockerRuntime::restart(const std::string& service, std::chrono::seconds grace) {
  require_run(service);
  api_.post(fmt::format("/containers/{}/restart?t={}", container_name(service), grace.count()),
            json::object(), grace + std::chrono::seconds(60));
}

ConfinedPath DockerRuntime::host_path(const std::string& service, const std::string& container_path) {
  require_run(service);
  const std::filesystem::path inside = std::filesystem::path(container_path).lexically_normal();
  if (!inside.is_absolute())
    throw EnvironmentError(fmt::format("'{}' is not an absolute path in the container of '{}'", container_path, service));
  json container;
  try {
    container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
  } catch (const docker::EngineError& error) {
    throw EnvironmentError(fmt::format("cannot inspect '{}' to find its files: {}", service, error.what()));
  }
  const auto below = [&inside](const std::filesystem::path& root) -> std::optional<std::filesystem::path> {
    const auto rest = inside.lexically_relative(root);
    if (rest.empty() || *rest.begin() == "..") return std::nullopt;
    return rest == "." ? std::filesystem::path() : rest;
  };
  const auto on_this_machine = [&](const std::filesystem::path& root) {
    std::error_code error;
    if (!std::filesystem::is_directory(root, error))
      throw EnvironmentError(fmt::format(
          "the files of '{}' are at {} on the engine's machine, which this process cannot see (a remote or rootless engine?)",
          service, root.string()));
  };

  // The deepest mount wins: a volume mounted inside another hides that part of it.
  std::optional<std::filesystem::path> mount_source;
  std::filesystem::path mount_rest;
  std::size_t mount_depth = 0;
  for (const auto& mount : container.value("Mounts", json::array())) {
    const std::filesystem::path destination = mount.value("Destination", std::string());
    const std::string source = mount.value("Source", std::string());
    if (destination.empty() || source.empty()) continue;
    const auto rest = below(destination.lexically_normal());
    const auto depth = static_cast<std::size_t>(std::distance(destination.begin(), destination.end()));
    if (rest && (!mount_source || depth > mount_depth)) {
      mount_source = source;
      mount_rest = *rest;
      mount_depth = depth;
    }
  }
  if (mount_source) {
    on_this_machine(*mount_source);
    return {*mount_source, mount_rest};
  }

  const json graph = container.value("GraphDriver", json::object());
  const json data = graph.value("Data", json::object());
  if (graph.value("Name", std::string()) != "overlay2" || !data.is_object())
    throw EnvironmentError(fmt::format("'{}' is not on overlay2 storage, so {} has no path on this machine",
                                       service, container_path));
  const auto relative = inside.relative_path();
  if (container.value("State", json::object()).value("Running", false)) {
    const std::filesystem::path merged = data.value("MergedDir", std::string());
    on_this_machine(merged);
    return {merged, relative};
  }
  // A stopped container's merged view is unmounted; only what it changed is in its upper layer.
  const std::filesystem::path upper = data.value("UpperDir", std::string());
  on_this_machine(upper);
  try {
    ::close(open_confined({upper, relative}, O_PATH));
  } catch (const std::runtime_error&) {
    throw EnvironmentError(fmt::format("'{}' is stopped and {} is not in its writable layer; start it first", service,
                                       container_path));
  }
  return {upper, relative};
}

void DockerRuntime::copy_from(const std::string& service, const std::string& container_path,
                              const std::filesystem::path& host_path) {
  require_run(service);
  std::filesystem::path partial = host_path;
  partial += ".partial";
  // Exclusive and never through a symlink: the folder is the harness's own, and a name that is
  // already there is not one this copy may replace through.
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw EnvironmentError(fmt::format("cannot create {}: {}", partial.string(), std::strerror(errno)));
  tar::FirstFileReader reader([&](std::string_view data) {
    while (!data.empty()) {
      const auto written = ::write(fd, data.data(), data.size());
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) throw std::runtime_error(fmt::format("cannot write {}: {}", partial.string(), std::strerror(errno)));
      data.remove_prefix(static_cast<std::size_t>(written));
    }
  });
  bool closed = false;
  const auto fail = [&](const std::string& why) {
    if (!closed) ::close(fd);
    closed = true;
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
    return EnvironmentError(fmt::format("cannot copy {} out of '{}': {}", container_path, service, why));
  };
  try {
    api_.stream("GET",
                fmt::format("/containers/{}/archive?path={}", container_name(service), docker::url_encode(container_path)),
                {}, "application/x-tar", [&](std::string_view bytes) { reader.feed(bytes); }, std::chrono::hours(6));
  } catch (const docker::EngineError& error) {
    throw fail(error.what());
  } catch (const std::runtime_error& error) {
    throw fail(error.what());
  }
  if (!reader.complete()) throw fail("the engine's archive ended before the file did");
  closed = true;
  if (::close(fd) != 0) throw fail("the file could not be written completely");
  std::error_code error;
  std::filesystem::rename(partial, host_path, error);
  if (error) throw fail(error.message());
}

void DockerRuntime::copy_to(const std::string& service, const std::filesystem::path& host_path,
                            const std::string& container_path) {
  require_run(service);
  const std::filesystem::path target(container_path);
  std::ifstream in(host_path, std::ios::binary);
  std::error_code size_error;
  const std::uintmax_t size = std::filesystem::file_size(host_path, size_error);
  if (!in || size_error) throw EnvironmentError(fmt::format("cannot read {}", host_path.string()));
  const std::string directory = target.parent_path().empty() ? "/" : target.parent_path().string();
  // The archive is sent as it is read: a backup is never held in memory, once or twice.
  const std::string header = tar::file_header(target.filename().string(), size, 0644);
  const std::string trailer = tar::padding(size) + tar::end_of_archive();
  std::uint64_t offset = 0;
  const std::uint64_t total = header.size() + size + trailer.size();
  const auto read = [&](char* buffer, std::size_t capacity) -> std::size_t {
    std::size_t filled = 0;
    while (filled < capacity && offset < total) {
      if (offset < header.size()) {
        const std::size_t n = std::min<std::uint64_t>(capacity - filled, header.size() - offset);
        std::memcpy(buffer + filled, header.data() + offset, n);
        filled += n;
        offset += n;
      } else if (offset < header.size() + size) {
        const std::size_t n = std::min<std::uint64_t>(capacity - filled, header.size() + size - offset);
        in.read(buffer + filled, static_cast<std::streamsize>(n));
        if (in.gcount() != static_cast<std::streamsize>(n))
          throw EnvironmentError(fmt::format("{} changed while it was copied (shorter than {} bytes)", host_path.string(), size));
        filled += n;
        offset += n;
      } else {
        const std::uint64_t at = offset - header.size() - size;
        const std::size_t n = std::min<std::uint64_t>(capacity - filled, trailer.size() - at);
        std::memcpy(buffer + filled, trailer.data() + at, n);
        filled += n;
        offset += n;
      }
    }
    return filled;
  };
  try {
    api_.upload(fmt::format("/containers/{}/archive?path={}", container_name(service), docker::url_encode(directory)),
                "application/x-tar", total, read, std::chrono::hours(1));
  } catch (const docker::EngineError& error) {
    throw EnvironmentError(fmt::format("cannot copy {} into '{}' as {}: {}", host_path.string(), service, container_path,
                                       error.what()));
  } catch (const std::runtime_error& error) {
    throw EnvironmentError(fmt::format("cannot copy {} into '{}' as {}: {}", host_path.string(), service, container_path,
                                       error.what()));
  }
}

void DockerRuntime::remove(const std::string& service) {
  require_run(service);
  try {
    api_.request("DELETE", fmt::format("/containers/{}?force=1&v=1", container_name(service)));
  } catch (const docker::EngineError& error) {
    if (error.status() != 404) throw EnvironmentError(fmt::format("cannot remove '{}': {}", service, error.what()));
  }
}

void DockerRuntime::destroy(const std::string& service) {
  remove(service);
  const std::string filter = docker::url_encode(
      json{{"label", {fmt::format("{}={}", labels::run, run_id_), fmt::format("{}={}", labels::service, service)}}}.dump());
  try {
    const json volumes = api_.get("/volumes?filters=" + filter);
    for (const auto& volume : volumes.value("Volumes", json::array()))
      api_.request("DELETE", fmt::format("/volumes/{}?force=1", docker::url_encode(volume.value("Name", ""))));
  } catch (const docker::EngineError& error) {
    throw EnvironmentError(fmt::format("cannot remove the volumes of '{}': {}", service, error.what()));
  }
  // The tmpfs stays mounted (the journal still owns it) but loses everything it held.
  const auto directory = size_limited_mount_directory(run_id_, service);
  if (!is_mount_point(directory)) return;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) std::filesystem::remove_all(entry.path(), error);
  if (error) throw EnvironmentError(fmt::format("cannot empty {}: {}", directory.string(), error.message()));
}

json DockerRuntime::size_limited_bind(const ContainerSpec& spec) {
  // A host tmpfs rather than an engine tmpfs volume: the engine empties those whenever the
  // container stops, and a killed database must come back with its data.
  const auto directory = size_limited_mount_directory(run_id_, spec.service);
  announce("mount", directory.string());
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error)
    throw EnvironmentError(fmt::format("cannot create {} for the data of '{}': {}", directory.string(), spec.service,
                                       error.message()));
  // Other users of this machine must not reach the data: they could plant a symlink for a fault
  // the harness applies as root, or edit the files whose loss the drill measures. The run's
  // folder is root's alone; the engine (root) bind-mounts from it, and the image's entrypoint,
  // which starts as root, gives the mount to its server's user (postgres, redis, Patroni).
  ::chmod(size_limited_mount_root().c_str(), 0711);
  if (::chmod(directory.parent_path().c_str(), 0700) != 0)
    throw EnvironmentError(fmt::format("cannot make {} private: {}", directory.parent_path().string(), std::strerror(errno)));
  if (!is_mount_point(directory)) {
    const std::string options = fmt::format("size={},mode=0700", spec.size_limited->bytes);
    if (::mount("tmpfs", directory.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
      throw EnvironmentError(fmt::format("cannot mount a {}-byte tmpfs at {} for '{}': {} (it needs root on the engine's host)",
                                         spec.size_limited->bytes, directory.string(), spec.service, std::strerror(errno)));
  }
  return {{"Type", "bind"}, {"Source", directory.string()}, {"Target", spec.size_limited->path}};
}

std::filesystem::path DockerRuntime::size_limited_mount(const std::string& service) {
  require_run(service);
  const auto directory = size_limited_mount_directory(run_id_, service);
  if (!is_mount_point(directory))
    throw EnvironmentError(fmt::format("'{}' has no size-limited filesystem (no {} mounted); give the service `disk:`",
                                       service, directory.string()));
  return directory;
}

}  // namespace firedrill
