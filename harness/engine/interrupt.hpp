#pragma once
// Ctrl-C and SIGTERM: the first one asks the drill to stop; the drill then reverts its faults,
// tears down and exits 130. Further signals change nothing (no second Ctrl-C is needed, and one
// cannot cut the cleanup short).
#include <atomic>

namespace firedrill {

/// Installs the SIGINT/SIGTERM handlers (idempotent).
void install_interrupt_handlers();
/// True once SIGINT or SIGTERM arrived.
bool interrupted();
/// For tests: pretend a signal arrived / reset.
void request_interrupt();
void clear_interrupt();

}  // namespace firedrill
