#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "reports/attestation/keys.hpp"

namespace firedrill {
namespace {

struct KeygenOptions {
  std::string prefix;
  std::string algorithm = "ed25519";
};

int keygen_command(const KeygenOptions& options) {
  auto algorithm = options.algorithm == "ecdsa-p256" ? attestation::KeyAlgorithm::ecdsa_p256
                                                      : attestation::KeyAlgorithm::ed25519;
  try {
    auto files = attestation::keygen(options.prefix, algorithm);
    std::cout << fmt::format("private key: {} (mode 0600; keep it secret)\npublic key:  {}\nkey id:      {}\n",
                             files.private_key.string(), files.public_key.string(), files.key_id);
    return exit_code::ok;
  } catch (const attestation::KeyError& error) {
    std::cerr << "firedrill keygen: " << error.what() << "\n";
    return exit_code::invalid_input;
  }
}

}  // namespace

void setup_keygen(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<KeygenOptions>();
  auto* keygen = app.add_subcommand("keygen", "Create a signing key pair: PREFIX.key (private) and PREFIX.pub");
  keygen->add_option("--out", options->prefix, "path prefix of the two files; existing files are never overwritten")
      ->required();
  keygen->add_option("--algorithm", options->algorithm, "ed25519 (default) or ecdsa-p256")
      ->check(CLI::IsMember({"ed25519", "ecdsa-p256"}));
  keygen->callback([options, &result] { result.exit_code = keygen_command(*options); });
}

}  // namespace firedrill
