#pragma once
// A service process of the `process` runtime as its pid file records it: the pid, the process's
// start time (/proc/<pid>/stat field 22), its process group and, when firedrill could make one,
// its cgroup. Whoever finds the file later (the runtime, `firedrill cleanup` after the harness
// died) acts on the service only while the record still names the same processes, so a pid the
// kernel gave to something else is never touched.
//
// A service is a whole process tree, not one group: PostgreSQL puts every backend in a session of
// its own. With a cgroup every process of the service is in it. Without one, the tree is the
// recorded group plus every descendant of its members (parent links in /proc), each started no
// earlier than the recorded process.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace firedrill {

/// Field 22 (starttime, clock ticks after boot) of /proc/<pid>/stat; nullopt when there is no such
/// process.
std::optional<unsigned long long> process_start_time(int pid);

struct RecordedProcess {
  int pid = 0;
  unsigned long long start_time = 0;
  int process_group = 0;
  std::filesystem::path cgroup;  // empty: the service has none (see service_cgroup.hpp)
  /// The session the process was started in (the harness's own). Once the leader is gone and its
  /// pid may be reused, a process of the group counts only in this session: a later process that
  /// got the same number and made a group of it started elsewhere. 0 in records of older versions.
  int session = 0;

  /// "pid=<pid> start_time=<ticks> process_group=<pgid>[ cgroup=<path>][ session=<sid>]\n"
  std::string to_text() const;
  /// Parses to_text(); nullopt for anything else (a torn or foreign file, a cgroup path that is
  /// not one firedrill makes).
  static std::optional<RecordedProcess> parse(const std::string& text);

  /// True while the recorded pid is the same process (same start time) and has not exited (a
  /// zombie has).
  bool leader_alive() const;

  /// The processes of the service now that have not exited: the cgroup's; without one, the
  /// recorded group's members (every member while the leader is the recorded process; the members
  /// left when the leader is gone, since the kernel gives no new process a pid that is still a live
  /// group's id; none when the pid now names another process) and all their descendants.
  std::vector<int> members() const;
};

/// Writes the record to `file` atomically (beside it, then renamed), mode 0644.
void write_pid_file(const std::filesystem::path& file, const RecordedProcess& process);

/// The record in `file`; nullopt when it is missing or unreadable, not a regular file, or one
/// another user wrote or could write (owned by neither this user nor root, or group- or
/// world-writable): firedrill kills what a record names.
std::optional<RecordedProcess> read_pid_file(const std::filesystem::path& file);

/// Sends `signal` to every process of the record; true when there was one to send it to.
bool signal_recorded_processes(const RecordedProcess& process, int signal);

/// Freezes (or thaws) every process of the record, as `docker pause` does: through the cgroup's
/// freezer when there is one, else SIGSTOP (SIGCONT) to the whole tree, repeated until no new
/// process appears. True when there was a process to freeze.
bool freeze_recorded_processes(const RecordedProcess& process, bool frozen);

/// Removes the System V shared memory segments any of `pids` created that no process holds any
/// more: what a container's IPC namespace takes with it when it ends, and processes of this
/// machine killed outright leave behind (a database server's interlock segment).
void remove_segments_created_by(const std::vector<int>& pids);

/// Kills every process of the record (thawed first: a frozen process cannot die on some kernels)
/// and waits up to `timeout` until none is left, reaping the ones that were reparented to this
/// process (see child_reaper.hpp), then removes the shared memory they created that no one holds
/// (remove_segments_created_by). True when none is left.
bool kill_recorded_processes(const RecordedProcess& process, std::chrono::milliseconds timeout);

/// Kills the processes the pid files record (kill_recorded_processes, 5 s each), removes their
/// cgroups and the pid files; returns how many records still had processes. A file naming
/// processes that did not go away is kept and described in `errors`.
int kill_recorded_processes(const std::vector<std::filesystem::path>& pid_files, std::vector<std::string>& errors);

}  // namespace firedrill
