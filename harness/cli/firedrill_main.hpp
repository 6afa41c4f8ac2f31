#pragma once

namespace firedrill {

/// The whole command line: parses argv, runs one subcommand, and turns every error into a
/// message and an exit code (DESIGN.md). Never throws.
int firedrill_main(int argc, char** argv);

}  // namespace firedrill
