#pragma once
// The errors every layer may throw that decide firedrill's exit code (cli/firedrill_main.cpp):
// a bad scenario, option or key is 2 (ScenarioError, KeyError, declared beside their parsers),
// an environment that is not usable is 3, anything else 1.
#include <stdexcept>

namespace firedrill {

/// The environment is not usable (engine unreachable, image missing, service never healthy):
/// exit code 3.
class EnvironmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace firedrill
