#include "harness/runtime/process/spawn.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "harness/runtime/process/child_reaper.hpp"
#include "harness/runtime/process/command_line.hpp"
#include "harness/runtime/process/service_cgroup.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

/// What the child reports through the close-on-exec pipe when it could not exec.
struct SpawnFailure {
  int stage = 0;  // 1 user, 2 directory, 3 exec
  int error = 0;
};

/// argv and environment as execve takes them; they point into the strings, which must outlive them.
std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (const auto& text : strings) pointers.push_back(const_cast<char*>(text.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

int spawn_service_process(const ServicePlace& place, const SpawnRequest& request, std::optional<RecordedProcess>& recorded) {
  const int log = ::open(place.log_file().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int stdin_fd = ::open(request.input.c_str(), O_RDONLY | O_CLOEXEC);
  int go[2] = {-1, -1}, report[2] = {-1, -1};
  if (log < 0 || stdin_fd < 0 || ::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(report, O_CLOEXEC) != 0) {
    const std::string why = std::strerror(errno);
    for (int fd : {log, stdin_fd, go[0], go[1], report[0], report[1]})
      if (fd >= 0) ::close(fd);
    throw EnvironmentError(fmt::format("cannot prepare the process of '{}': {}", place.service, why));
  }
  const std::string program = resolve_program(request.argv.front(), place.stand_ins());
  std::vector<char*> arguments = c_strings(request.argv), variables = c_strings(request.environment);
  const std::string directory = place.directory.string();
  const bool switch_user = request.as_service_user && place.run_as.has_value();
  const uid_t user_id = switch_user ? place.run_as->first : 0;
  const gid_t group_id = switch_user ? place.run_as->second : 0;

  const pid_t pid = fork_awaited_child();
  if (pid < 0) {
    for (int fd : {log, stdin_fd, go[0], go[1], report[0], report[1]}) ::close(fd);
    throw EnvironmentError(fmt::format("cannot fork the process of '{}': {}", place.service, std::strerror(errno)));
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
    if (request.private_files) ::umask(077);
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
  RecordedProcess record{pid, process_start_time(pid).value_or(0), pid, request.cgroup.value_or(fs::path()), ::getsid(0)};
  try {
    // Moved before it may run, so that everything it will start is in the cgroup too.
    if (request.cgroup) move_into_service_cgroup(*request.cgroup, pid);
    write_pid_file(place.pid_file(), record);
  } catch (const std::exception& error) {
    ::close(go[1]);
    ::close(report[0]);
    ::waitpid(pid, nullptr, 0);
    forget_awaited_child(pid);
    throw EnvironmentError(fmt::format("cannot record the process of '{}': {}", place.service, error.what()));
  }
  recorded = record;
  [[maybe_unused]] auto sent = ::write(go[1], "x", 1);
  ::close(go[1]);
  SpawnFailure failure;
  const auto got = ::read(report[0], &failure, sizeof failure);
  ::close(report[0]);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    ::waitpid(pid, nullptr, 0);
    forget_awaited_child(pid);
    const char* stage = failure.stage == 1 ? "cannot switch to its user" : failure.stage == 2 ? "cannot enter" : "cannot run";
    std::string hint;
    if (failure.stage == 2 && switch_user)
      hint = fmt::format(" (as root, {} runs as the user {}, which must be able to traverse every parent directory; "
                         "choose an --out directory it can reach)",
                         request.program, request.user);
    throw EnvironmentError(fmt::format("the process of '{}' {} {}: {}{}", place.service, stage,
                                       failure.stage == 2 ? directory : program, std::strerror(failure.error), hint));
  }
  return pid;
}

std::optional<int> wait_child(int pid, SteadyClock::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      forget_awaited_child(pid);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (done < 0) return -1;
    if (SteadyClock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

namespace {

/// The parent's half of an exec: reads the child's output until it closes or `timeout`, kills
/// it then (its whole process group when it leads one), reaps it and closes `output`.
ExecResult collect_exec_output(pid_t pid, int output, std::chrono::milliseconds timeout, bool kill_group) {
  ExecResult result;
  const auto deadline = SteadyClock::now() + timeout;
  bool timed_out = false;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd readable{output, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(std::min<long long>(left, 100))) < 0 && errno != EINTR) break;
    if (readable.revents == 0) continue;
    char buffer[4096];
    const auto got = ::read(output, buffer, sizeof buffer);
    if (got <= 0) break;
    result.output.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(output);
  if (timed_out) {
    if (kill_group) ::killpg(pid, SIGKILL);
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

}  // namespace

ExecResult run_beside_service(const ServicePlace& place, const std::optional<RecordedProcess>& running,
                              const std::vector<std::string>& command, const std::vector<std::string>& environment,
                              std::chrono::milliseconds timeout) {
  const std::string program = resolve_program(command.front(), place.stand_ins());
  const std::string directory = place.directory.string();
  const int service_group = running ? running->process_group : 0;
  const std::string cgroup_procs =
      running && !running->cgroup.empty() ? (running->cgroup / "cgroup.procs").string() : std::string();
  std::vector<char*> arguments = c_strings(command), variables = c_strings(environment);

  int output[2];
  if (::pipe2(output, O_CLOEXEC) != 0)
    throw EnvironmentError(fmt::format("cannot exec in '{}': {}", place.service, std::strerror(errno)));
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = fork_awaited_child();
  if (pid < 0) {
    ::close(output[0]);
    ::close(output[1]);
    ::close(null);
    throw EnvironmentError(fmt::format("cannot exec in '{}': {}", place.service, std::strerror(errno)));
  }
  if (pid == 0) {
    if (service_group == 0 || ::setpgid(0, service_group) != 0) ::setpgid(0, 0);
    if (!cgroup_procs.empty()) {
      // "0" moves the writer itself: done here, before exec, nothing it starts can be outside.
      const int procs = ::open(cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (procs >= 0) {
        [[maybe_unused]] auto moved = ::write(procs, "0", 1);
        ::close(procs);
      }
    }
    ::dup2(null, STDIN_FILENO);
    ::dup2(output[1], STDOUT_FILENO);
    ::dup2(output[1], STDERR_FILENO);
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // as for the service's own processes
    if (::chdir(directory.c_str()) != 0) ::_exit(126);
    ::execve(program.c_str(), arguments.data(), variables.data());
    constexpr const char message[] = "exec: cannot run the command\n";
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  if (service_group == 0 || ::setpgid(pid, service_group) != 0) ::setpgid(pid, pid);
  ::close(output[1]);
  ::close(null);
  return collect_exec_output(pid, output[0], timeout, service_group == 0);
}

ExecResult run_in_network_namespace_of(int pidfd, const std::vector<std::string>& command,
                                       std::chrono::milliseconds timeout) {
  const std::string program = resolve_program(command.front());
  std::vector<char*> arguments = c_strings(command);
  const std::vector<std::string> environment = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"};
  std::vector<char*> variables = c_strings(environment);
  int output[2];
  if (::pipe2(output, O_CLOEXEC) != 0)
    throw EnvironmentError(fmt::format("cannot run {} in a network namespace: {}", command.front(), std::strerror(errno)));
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = fork_awaited_child();
  if (pid < 0) {
    for (int fd : {output[0], output[1], null}) ::close(fd);
    throw EnvironmentError(fmt::format("cannot run {} in a network namespace: {}", command.front(), std::strerror(errno)));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(null, STDIN_FILENO);
    ::dup2(output[1], STDOUT_FILENO);
    ::dup2(output[1], STDERR_FILENO);
    if (::setns(pidfd, CLONE_NEWNET) != 0) {
      constexpr const char message[] = "setns: cannot enter the network namespace\n";
      [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
      ::_exit(125);
    }
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (::chdir("/") != 0) ::_exit(126);
    ::execve(program.c_str(), arguments.data(), variables.data());
    constexpr const char message[] = "exec: cannot run the command\n";
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(output[1]);
  ::close(null);
  return collect_exec_output(pid, output[0], timeout, true);
}

}  // namespace firedrill
