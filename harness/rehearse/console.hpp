#pragma once
// The two faces of a rehearsal: a full-screen terminal view (alternate screen, single keys,
// redrawn five times a second, fit for SSH and tmux at 80×24) and, without a terminal, plain
// line-by-line prompts read from stdin.
#include <memory>
#include <ostream>

#include "core/clock.hpp"
#include "core/model.hpp"
#include "harness/rehearse/operator.hpp"
#include "harness/rehearse/screen.hpp"

namespace firedrill {

/// Full-screen view on the terminal `terminal_fd` (read and written). Switches it to the
/// alternate screen and non-canonical input on construction; restores both when destroyed,
/// whatever ended the rehearsal (done, abort, Ctrl-C). Throws std::runtime_error when
/// `terminal_fd` is not a terminal.
std::unique_ptr<Operator> make_terminal_operator(const Scenario& scenario, const Clock& clock, int terminal_fd);

/// Line prompts: reads answers (one per line: empty = done, s = skip, r = firedrill does it,
/// a = abort) from `input_fd`, writes to `output`. Answers typed ahead apply to the next steps
/// in order. When the input ends, a step with `until` still completes by itself; one without
/// aborts the rehearsal, as nobody is left to confirm it.
std::unique_ptr<Operator> make_line_operator(const Scenario& scenario, const Clock& clock, int input_fd,
                                             std::ostream& output);

}  // namespace firedrill
