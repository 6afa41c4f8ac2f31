#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "reports/attestation/chain.hpp"

namespace firedrill {
namespace {

struct ChainVerifyOptions {
  std::string directory;
  std::vector<std::string> public_keys;
  bool repair = false;
};

int chain_verify_command(const ChainVerifyOptions& options) {
  try {
    std::vector<attestation::PublicKey> keys;
    for (const auto& file : options.public_keys) keys.push_back(attestation::PublicKey::load(file));
    if (options.repair) {
      auto repair = attestation::repair_chain(options.directory, keys);
      if (repair.torn_bytes_removed > 0)
        std::cout << fmt::format("{}: removed the torn last line of chain.jsonl ({} bytes)\n", options.directory,
                                 repair.torn_bytes_removed);
      for (const auto& run : repair.completed)
        std::cout << fmt::format("{}: chained run {}, signed by a run that stopped before chaining it{}\n",
                                 options.directory, run, repair.signatures_checked ? "" : " (signature not checked: no --key)");
    }
    auto check = attestation::verify_chain(options.directory, keys);
    if (!check.valid) {
      std::cout << fmt::format("{}: BROKEN: {}\n", options.directory, check.reason);
      return exit_code::failed;
    }
    std::cout << fmt::format("{}: chain of {} entries intact\n", options.directory, check.entries);
    if (keys.empty()) {
      std::cout << "  signatures and signed anchors not checked (give --key PUB)\n";
    } else {
      std::cout << fmt::format("  {} entries' signed chain anchors match, head {} {}\n", check.anchors_checked,
                               check.head_seq, check.head_hash);
      if (check.unanchored > 0)
        std::cout << fmt::format("  {} entries were signed before runs signed their chain anchor\n", check.unanchored);
    }
    if (check.completed_after_crash > 0)
      std::cout << fmt::format("  {} entries were chained after their run stopped (completed_after_crash)\n",
                               check.completed_after_crash);
    return exit_code::ok;
  } catch (const attestation::KeyError& error) {
    std::cerr << "firedrill: " << error.what() << "\n";
    return exit_code::invalid_input;
  } catch (const attestation::ChainError& error) {
    // No chain at all is a wrong argument; a chain that cannot be repaired is a failed check.
    std::cerr << "firedrill: " << error.what() << "\n";
    return options.repair && std::filesystem::exists(std::filesystem::path(options.directory) / "chain.jsonl")
               ? exit_code::failed
               : exit_code::invalid_input;
  }
}

}  // namespace

void setup_chain(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<ChainVerifyOptions>();
  auto* chain = app.add_subcommand("chain", "The evidence chain of signed runs (chain.jsonl)");
  chain->require_subcommand(1);
  auto* verify = chain->add_subcommand("verify", "Check every link and every attestation digest of a runs directory");
  verify->add_option("dir", options->directory, "the runs directory (run's --out)")->required();
  verify->add_option("--key", options->public_keys,
                     "trusted public key: also verify each attestation and the chain head it signed (repeatable)");
  verify->add_flag("--repair", options->repair,
                   "first remove a torn last line and chain runs signed but killed before they were chained");
  verify->callback([options, &result] { result.exit_code = chain_verify_command(*options); });
}

}  // namespace firedrill
