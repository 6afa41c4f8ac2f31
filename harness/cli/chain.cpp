#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "reports/attestation/chain.hpp"

namespace firedrill {

void setup_chain(CLI::App& app, CommandResult& result) {
  auto directory = std::make_shared<std::string>();
  auto* chain = app.add_subcommand("chain", "The evidence chain of signed runs (chain.jsonl)");
  chain->require_subcommand(1);
  auto* verify = chain->add_subcommand("verify", "Check every link and every attestation digest of a runs directory");
  verify->add_option("dir", *directory, "the runs directory (run's --out)")->required();
  verify->callback([directory, &result] {
    try {
      auto check = attestation::verify_chain(*directory);
      if (check.valid) {
        std::cout << fmt::format("{}: chain of {} entries intact\n", *directory, check.entries);
        result.exit_code = exit_code::ok;
      } else {
        std::cout << fmt::format("{}: BROKEN: {}\n", *directory, check.reason);
        result.exit_code = exit_code::failed;
      }
    } catch (const std::runtime_error& error) {
      std::cerr << "firedrill: " << error.what() << "\n";
      result.exit_code = exit_code::invalid_input;
    }
  });
}

}  // namespace firedrill
