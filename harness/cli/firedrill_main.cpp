#include "harness/cli/firedrill_main.hpp"

#include <iostream>

#include "checks/registry.hpp"
#include "harness/actions/action.hpp"
#include "harness/cli/commands.hpp"
#include "harness/runtime/runtime.hpp"
#include "injectors/registry.hpp"
#include "reports/attestation/keys.hpp"
#include "reports/writers.hpp"

namespace firedrill {

Vocabulary registered_vocabulary() {
  return {fault_specs(), action_specs(), check_specs()};
}

std::map<std::string, std::string> parse_vars(const std::vector<std::string>& assignments) {
  std::map<std::string, std::string> vars;
  for (const auto& assignment : assignments) {
    auto equals = assignment.find('=');
    if (equals == std::string::npos || equals == 0)
      throw CLI::ValidationError("--var", "expected KEY=VALUE, got '" + assignment + "'");
    vars[assignment.substr(0, equals)] = assignment.substr(equals + 1);
  }
  return vars;
}

int firedrill_main(int argc, char** argv) {
  CLI::App app{"firedrill — chaos and disaster-recovery drills with measured RTO/RPO", "firedrill"};
  app.set_version_flag("--version", std::string("firedrill ") + FIREDRILL_VERSION);
  app.require_subcommand(1);
  CommandResult result;
  setup_run(app, result);
  setup_validate(app, result);
  setup_cleanup(app, result);
  setup_up_down(app, result);
  setup_listings(app, result);
  setup_chain(app, result);
  setup_gate(app, result);
  setup_keygen(app, result);
  setup_verify(app, result);
  setup_attest(app, result);
  setup_rehearse(app, result);
  try {
    app.parse(argc, argv);
    return result.exit_code;
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : exit_code::invalid_input;
  } catch (const ScenarioError& error) {
    std::cerr << error.what() << "\n";
    return exit_code::invalid_input;
  } catch (const attestation::KeyError& error) {
    std::cerr << "firedrill: " << error.what() << "\n";
    return exit_code::invalid_input;
  } catch (const EnvironmentError& error) {
    // Quotes what an engine, a container or a server said: bytes that may not steer the terminal.
    std::cerr << "firedrill: environment error: " << terminal_text(error.what()) << "\n";
    return exit_code::environment;
  } catch (const std::exception& error) {
    std::cerr << "firedrill: error: " << terminal_text(error.what()) << "\n";
    return exit_code::failed;
  }
}

}  // namespace firedrill
