#include "core/interrupt.hpp"

#include <csignal>

namespace firedrill {
namespace {

std::atomic<bool> interrupt_requested{false};

extern "C" void on_interrupt_signal(int) { interrupt_requested.store(true); }

extern "C" void on_broken_pipe(int) {}

void handle(int signal, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(signal, &action, nullptr);
}

}  // namespace

void install_interrupt_handlers() {
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) handle(signal, on_interrupt_signal);
  handle(SIGPIPE, on_broken_pipe);
}

bool interrupted() { return interrupt_requested.load(); }
void request_interrupt() { interrupt_requested.store(true); }
void clear_interrupt() { interrupt_requested.store(false); }

}  // namespace firedrill
