#include "harness/runtime/docker/freezer.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "harness/runtime/process/process_files.hpp"

namespace firedrill {
namespace {

bool is_v1(const std::filesystem::path& control) { return control.filename() == "freezer.state"; }

bool reports_frozen(const std::filesystem::path& control) {
  if (is_v1(control)) {
    std::string state;
    std::ifstream(control) >> state;
    return state == "FROZEN";
  }
  std::ifstream events(control.parent_path() / "cgroup.events");
  std::string key, value;
  while (events >> key >> value)
    if (key == "frozen") return value == "1";
  return false;
}

}  // namespace

std::optional<std::filesystem::path> freezer_control_in(const std::string& proc_cgroup, const std::string& container_id) {
  // A short or empty id would match too much: only Docker's full 64-digit ids are trusted.
  if (container_id.size() != 64) return std::nullopt;
  std::istringstream cgroups(proc_cgroup);
  std::string line;
  std::optional<std::filesystem::path> control;
  while (std::getline(cgroups, line)) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers == "freezer") {
      control = path.find(container_id) == std::string::npos
                    ? std::nullopt
                    : std::optional(std::filesystem::path("/sys/fs/cgroup/freezer" + path) / "freezer.state");
      break;  // a v1 freezer wins over the unified hierarchy of a hybrid host
    }
    if (line.starts_with("0::") && path.find(container_id) != std::string::npos)
      control = std::filesystem::path("/sys/fs/cgroup" + path) / "cgroup.freeze";
  }
  return control;
}

std::optional<std::filesystem::path> freezer_control_of(int pid, const std::string& container_id) {
  if (pid <= 0) return std::nullopt;
  auto control = freezer_control_in(read_process_file(pid, "cgroup").value_or(""), container_id);
  if (control && ::access(control->c_str(), W_OK) == 0) return control;
  return std::nullopt;
}

ContainerProcess::ContainerProcess(int pid, const std::string& container_id) {
  if (pid <= 0) return;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return;
  if (!freezer_control_in(read_process_file(pid, "cgroup").value_or(""), container_id)) {
    ::close(pidfd);
    return;
  }
  pidfd_ = pidfd;
}

ContainerProcess::~ContainerProcess() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool freeze_cgroup(const std::filesystem::path& control, std::chrono::milliseconds timeout) {
  std::ofstream(control) << (is_v1(control) ? "FROZEN" : "1");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reports_frozen(control)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

void thaw_cgroup(const std::filesystem::path& control) { std::ofstream(control) << (is_v1(control) ? "THAWED" : "0"); }

}  // namespace firedrill
