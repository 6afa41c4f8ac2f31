#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "reports/attestation/statement.hpp"

namespace firedrill {
namespace {

struct VerifyOptions {
  std::string envelope;
  std::string public_key;
  std::string artifacts;
};

int verify_command(const VerifyOptions& options) {
  try {
    auto key = attestation::PublicKey::load(options.public_key);
    std::optional<std::filesystem::path> artifacts;
    if (!options.artifacts.empty()) artifacts = options.artifacts;
    auto result = attestation::verify_envelope(options.envelope, key, artifacts);
    if (!result.valid) {
      std::cout << fmt::format("{}: INVALID: {}\n", options.envelope, result.reason);
      return exit_code::failed;
    }
    const auto& predicate = result.statement["predicate"];
    std::cout << fmt::format("{}: valid, signed by key {}\n", options.envelope, key.key_id());
    if (predicate.is_object() && predicate.contains("scenario") && predicate.contains("result"))
      std::cout << fmt::format("  scenario {}: {}\n", predicate["scenario"].value("name", "?"),
                               predicate["result"].is_string() ? predicate["result"].get<std::string>() : "?");
    std::cout << (artifacts ? fmt::format("  {} subjects match their SHA-256 in {}\n", result.subjects_checked,
                                          artifacts->string())
                            : std::string("  subjects not checked (give --artifacts DIR)\n"));
    return exit_code::ok;
  } catch (const attestation::KeyError& error) {
    std::cerr << "firedrill verify: " << error.what() << "\n";
    return exit_code::invalid_input;
  } catch (const attestation::EnvelopeError& error) {
    std::cerr << "firedrill verify: " << error.what() << "\n";
    return exit_code::invalid_input;
  }
}

}  // namespace

void setup_verify(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<VerifyOptions>();
  auto* verify = app.add_subcommand(
      "verify", "Verify a signed attestation (DSSE envelope over an in-toto Statement) and its subjects");
  verify->add_option("file", options->envelope, "the envelope, e.g. RUN_DIR/attestation.dsse.json")->required();
  verify->add_option("--key", options->public_key, "trusted public key (SPKI PEM)")->required();
  verify->add_option("--artifacts", options->artifacts,
                     "directory holding the subjects; each must match its attested SHA-256");
  verify->callback([options, &result] { result.exit_code = verify_command(*options); });
}

}  // namespace firedrill
