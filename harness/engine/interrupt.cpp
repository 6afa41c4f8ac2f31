#include "harness/engine/interrupt.hpp"

#include <csignal>

namespace firedrill {
namespace {

std::atomic<bool> interrupt_requested{false};

extern "C" void on_interrupt_signal(int) { interrupt_requested.store(true); }

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_interrupt_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool interrupted() { return interrupt_requested.load(); }
void request_interrupt() { interrupt_requested.store(true); }
void clear_interrupt() { interrupt_requested.store(false); }

}  // namespace firedrill
