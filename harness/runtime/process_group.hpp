#pragma once
// A service process of the `process` runtime as its pid file records it: the pid, the process's
// start time (/proc/<pid>/stat field 22) and its process group. Whoever finds the file later (the
// runtime, `firedrill cleanup` after the harness died) signals the group only while the record
// still names the same processes, so a pid the kernel gave to something else is never touched.
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

  /// "pid=<pid> start_time=<ticks> process_group=<pgid>\n"
  std::string to_text() const;
  /// Parses to_text(); nullopt for anything else (a torn or foreign file).
  static std::optional<RecordedProcess> parse(const std::string& text);

  /// True while the recorded pid is the same process (same start time) and has not exited (a
  /// zombie has).
  bool leader_alive() const;

  /// The processes now in the recorded group that are the record's: every member while the
  /// leader is the recorded process (a zombie included); the members left when the leader is
  /// gone, since the kernel gives no new process a pid that is still a live group's id; none when
  /// the pid now names another process (the group was empty when its number was reused).
  std::vector<int> members() const;
};

/// Writes the record to `file` atomically (beside it, then renamed), mode 0644.
void write_pid_file(const std::filesystem::path& file, const RecordedProcess& process);

/// The record in `file`; nullopt when it is missing or unreadable.
std::optional<RecordedProcess> read_pid_file(const std::filesystem::path& file);

/// Sends `signal` to the recorded group when members() is not empty; true when it was sent.
bool signal_recorded_group(const RecordedProcess& process, int signal);

/// Continues (a frozen process cannot die otherwise on some kernels) and kills every process of
/// the record, then waits up to `timeout` for them to be gone. True when none is left.
bool kill_recorded_group(const RecordedProcess& process, std::chrono::milliseconds timeout);

/// Kills the processes the pid files record (kill_recorded_group, 5 s each) and removes the pid
/// files; returns how many records still had processes. A file naming processes that did not go
/// away is kept and described in `errors`.
int kill_recorded_processes(const std::vector<std::filesystem::path>& pid_files, std::vector<std::string>& errors);

}  // namespace firedrill
