#pragma once
// Reading the files of a process under /proc. A process can exit between any two reads, and a
// file of a process that has just exited fails with ESRCH or ENOENT halfway through: that is an
// answer ("the process is gone"), never an exception. Everything that looks at processes
// (teardown, cleanup, the reaper, the tests) reads them through these functions.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firedrill {

/// The number of a signal named like "KILL", "SIGTERM" or "15"; std::invalid_argument otherwise.
int signal_number(const std::string& name);

/// The whole of /proc/<pid>/<name> (e.g. "stat", "cmdline", "cgroup"); nullopt when the process
/// is gone or never was, or the file cannot be read.
std::optional<std::string> read_process_file(int pid, std::string_view name);

/// The fields of /proc/<pid>/stat that firedrill uses.
struct ProcessStat {
  char state = '?';                   // field 3: R, S, D, T, t, Z, X, ...
  int parent = 0;                     // field 4
  int process_group = 0;              // field 5
  int session = 0;                    // field 6
  unsigned long long start_time = 0;  // field 22, clock ticks after boot

  /// A zombie (Z) or a dead process (X) has exited; it only waits to be reaped.
  bool exited() const { return state == 'Z' || state == 'X'; }
};

/// Parses the text of a stat file; nullopt for anything else. The command name may hold spaces
/// and parentheses, so the fields are read after its last ')'.
std::optional<ProcessStat> parse_process_stat(std::string_view text);

/// /proc/<pid>/stat; nullopt when the process is gone.
std::optional<ProcessStat> read_process_stat(int pid);

/// The pids /proc lists now (processes, not threads).
std::vector<int> process_ids();

}  // namespace firedrill
