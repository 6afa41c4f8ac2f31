#pragma once
// Ctrl-C, SIGTERM and SIGHUP (a closed terminal, a dropped SSH session): the first one asks the
// drill to stop; the drill then reverts its faults, tears down and exits 130. Further signals
// change nothing (no second Ctrl-C is needed, and one cannot cut the cleanup short).
//
// SIGPIPE stops nothing: it only makes the write that raised it fail (EPIPE). Its default would
// kill firedrill mid-fault when a reader of its output goes away (`firedrill run … | head -1`),
// and a socket can raise it too (hiredis writes without MSG_NOSIGNAL), so it cannot mean that
// a person wants the drill stopped; the drill goes on and tears down as usual.
#include <atomic>

namespace firedrill {

/// Installs the SIGINT/SIGTERM/SIGHUP handlers and the SIGPIPE one (idempotent). They are
/// handlers, not SIG_IGN, so the programs firedrill starts get the default dispositions back.
void install_interrupt_handlers();
/// True once SIGINT, SIGTERM or SIGHUP arrived.
bool interrupted();
/// For tests: pretend a signal arrived / reset.
void request_interrupt();
void clear_interrupt();

}  // namespace firedrill
