#include "harness/runtime/process/service_cgroup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace firedrill {
namespace fs = std::filesystem;
namespace {

/// The mount point of the first cgroup2 file system in /proc/self/mountinfo.
std::optional<fs::path> cgroup2_mount() {
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    // "<id> <parent> <major:minor> <root> <mount point> <options> [optional...] - <type> <source> <super options>"
    const auto separator = line.find(" - ");
    if (separator == std::string::npos) continue;
    std::istringstream tail(line.substr(separator + 3));
    std::string type;
    if (!(tail >> type) || type != "cgroup2") continue;
    std::istringstream head(line.substr(0, separator));
    std::string id, parent, device, root, mount_point;
    if (head >> id >> parent >> device >> root >> mount_point && root == "/") return fs::path(mount_point);
  }
  return std::nullopt;
}

bool write_control(const fs::path& file, const std::string& value) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  const bool written = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  ::close(fd);
  return written;
}

/// The value of `key` in a flat-keyed control file (cgroup.events: "populated 1\nfrozen 0\n").
std::optional<int> control_value(const fs::path& file, const std::string& key) {
  std::ifstream in(file);
  for (std::string name, value; in >> name >> value;)
    if (name == key) return std::atoi(value.c_str());
  return std::nullopt;
}

std::optional<fs::path> find_root() {
  if (::geteuid() != 0) return std::nullopt;
  const auto mount = cgroup2_mount();
  if (!mount) return std::nullopt;
  const fs::path root = *mount / "firedrill";
  if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) return std::nullopt;
  struct stat info {};
  if (::lstat(root.c_str(), &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != 0) return std::nullopt;
  // cgroup.kill exists in every non-root cgroup of a kernel that has it.
  if (::access((root / "cgroup.kill").c_str(), W_OK) != 0) return std::nullopt;
  return root;
}

}  // namespace

std::optional<fs::path> service_cgroup_root() {
  static const std::optional<fs::path> root = find_root();
  return root;
}

fs::path service_cgroup_path(const fs::path& root, const std::string& run_id, const std::string& service) {
  return root / run_id / service;
}

bool is_service_cgroup(const fs::path& path) {
  const auto root = service_cgroup_root();
  if (!root || !path.is_absolute()) return false;
  const fs::path relative = path.lexically_relative(*root);
  int components = 0;
  for (const auto& part : relative) {
    if (part.empty() || part == "." || part == "..") return false;
    ++components;
  }
  return components == 2 && path == path.lexically_normal();
}

void create_service_cgroup(const fs::path& path) {
  if (!is_service_cgroup(path)) throw std::runtime_error(fmt::format("{} is not a cgroup firedrill makes", path.string()));
  for (const fs::path& directory : {path.parent_path(), path}) {
    if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST)
      throw std::runtime_error(fmt::format("cannot create the cgroup {}: {}", directory.string(), std::strerror(errno)));
  }
}

void move_into_service_cgroup(const fs::path& path, int pid) {
  if (!write_control(path / "cgroup.procs", std::to_string(pid)))
    throw std::runtime_error(fmt::format("cannot move process {} into the cgroup {}: {}", pid, path.string(),
                                         std::strerror(errno)));
}

std::vector<int> service_cgroup_processes(const fs::path& path) {
  std::vector<int> found;
  std::ifstream in(path / "cgroup.procs");
  for (int pid = 0; in >> pid;) found.push_back(pid);
  return found;
}

bool service_cgroup_populated(const fs::path& path) { return control_value(path / "cgroup.events", "populated").value_or(0) != 0; }

bool kill_service_cgroup(const fs::path& path, std::chrono::milliseconds timeout) {
  std::error_code error;
  if (!fs::is_directory(path, error)) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (service_cgroup_populated(path)) {
    // Again on every round: a process forked while the first kill was delivered is in the cgroup
    // too, and cgroup.kill reaches it as well.
    write_control(path / "cgroup.kill", "1");
    if (std::chrono::steady_clock::now() >= deadline) return !service_cgroup_populated(path);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

bool freeze_service_cgroup(const fs::path& path, bool frozen, std::chrono::milliseconds timeout) {
  if (!write_control(path / "cgroup.freeze", frozen ? "1" : "0")) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (control_value(path / "cgroup.events", "frozen").value_or(-1) != (frozen ? 1 : 0)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

bool remove_service_cgroup(const fs::path& path, std::string& error) {
  if (!is_service_cgroup(path)) {
    error = fmt::format("{} is not a cgroup firedrill makes, left alone", path.string());
    return false;
  }
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
    error = fmt::format("cannot remove the cgroup {}: {}", path.string(), std::strerror(errno));
    return false;
  }
  // The run's directory goes with its last service; another service of the run may still be there.
  ::rmdir(path.parent_path().c_str());
  return true;
}

}  // namespace firedrill
