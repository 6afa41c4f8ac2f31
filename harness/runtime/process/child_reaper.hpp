#pragma once
// The children of this process, and the orphans it adopts. A service of the process runtime is a
// tree: PostgreSQL's postmaster forks backends, pgBackRest forks an archiving daemon, pg_ctl leaves
// its server behind. When a parent in that tree dies first, its children are reparented to the
// nearest "child subreaper" ancestor, else to PID 1, and not every PID 1 reaps (a CI container's
// may not): their exit would leave a zombie for good. So the harness adopts them
// (PR_SET_CHILD_SUBREAPER) and reaps them itself. Children the harness forks and waits for by pid
// are forked through fork_awaited_child(), so that reaping orphans never takes their status.
#include <sys/types.h>

#include <vector>

namespace firedrill {

/// Makes this process the child subreaper: orphans of the processes it started come to it.
/// Idempotent; false when the kernel refuses.
bool adopt_orphans();

/// fork(), with the child recorded as one its caller will wait for by pid (until
/// forget_awaited_child). In the child, returns 0 as fork() does.
pid_t fork_awaited_child();

/// The caller has reaped `pid` (or will not wait for it any more: reap_orphans may then take it).
void forget_awaited_child(pid_t pid);

/// Reaps every exited child of this process that nobody awaits by pid; returns how many.
int reap_orphans();

/// Waits up to `timeout_ms` until none of `pids` is left as an unreaped child of this process
/// (or of another of `pids`, still to be reparented here), reaping them as they come.
void reap_exited(const std::vector<int>& pids, int timeout_ms);

}  // namespace firedrill
