#include "harness/runtime/process/child_reaper.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "harness/runtime/process/process_files.hpp"

namespace firedrill {
namespace {

struct Awaited {
  std::mutex mutex;
  std::set<pid_t> pids;
};

Awaited& awaited() {
  static Awaited instance;
  return instance;
}

}  // namespace

bool adopt_orphans() { return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0; }

pid_t fork_awaited_child() {
  // The lock spans the fork so that reap_orphans cannot see the child before it is recorded. The
  // child inherits the mutex locked but never touches it: it only execs or exits.
  std::lock_guard lock(awaited().mutex);
  const pid_t pid = ::fork();
  if (pid > 0) awaited().pids.insert(pid);
  return pid;
}

void forget_awaited_child(pid_t pid) {
  std::lock_guard lock(awaited().mutex);
  awaited().pids.erase(pid);
}

int reap_orphans() {
  std::lock_guard lock(awaited().mutex);
  const int self = static_cast<int>(::getpid());
  int reaped = 0;
  for (const int pid : process_ids()) {
    const auto stat = read_process_stat(pid);
    if (!stat || stat->parent != self || !stat->exited() || awaited().pids.contains(pid)) continue;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) ++reaped;
  }
  return reaped;
}

void reap_exited(const std::vector<int>& pids, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  const int self = static_cast<int>(::getpid());
  while (true) {
    reap_orphans();
    // Left: a zombie of ours nobody else will take, or one whose parent (in the tree) has not
    // finished exiting and so has not handed it over yet.
    const bool left = std::any_of(pids.begin(), pids.end(), [&](int pid) {
      const auto stat = read_process_stat(pid);
      if (!stat || !stat->exited()) return false;
      if (stat->parent == self) {
        std::lock_guard lock(awaited().mutex);
        return !awaited().pids.contains(pid);
      }
      return std::find(pids.begin(), pids.end(), stat->parent) != pids.end();
    });
    if (!left || std::chrono::steady_clock::now() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace firedrill
