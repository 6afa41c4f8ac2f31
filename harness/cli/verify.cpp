#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "reports/attestation/rollup.hpp"
#include "reports/attestation/statement.hpp"

namespace firedrill {
namespace {

struct VerifyOptions {
  std::string envelope;
  std::vector<std::string> public_keys;
  std::string artifacts;
  bool deep = false;
};

// Only chooses which verification to run; both take the Statement from the verified bytes and
// check its predicate type there.
bool claims_to_be_rollup(const attestation::Envelope& envelope) {
  auto payload = attestation::base64_decode(envelope.payload);
  if (!payload) return false;
  auto statement = nlohmann::json::parse(*payload, nullptr, false);
  return statement.is_object() && statement.value("predicateType", "") == attestation::rollup_predicate_type;
}

int report_rollup(const VerifyOptions& options, const attestation::RollupVerification& verification,
                  const std::optional<std::filesystem::path>& artifacts) {
  const auto& predicate = verification.statement.statement["predicate"];
  std::cout << fmt::format("{}: valid roll-up of {} ({}), {} attestations\n", options.envelope,
                           predicate["period"].value("label", "?"), predicate.value("result", "?"),
                           verification.statement.statement["subject"].size());
  if (!artifacts) {
    std::cout << "  included attestations not checked (give --artifacts DIR)\n";
  } else {
    std::cout << fmt::format("  {} included attestations match their SHA-256 in {}\n",
                             verification.statement.subjects_checked, artifacts->string());
    std::cout << (options.deep ? fmt::format("  {} included runs verified with their files\n", verification.runs_verified)
                               : std::string("  runs themselves not verified (add --deep)\n"));
  }
  return exit_code::ok;
}

int verify_command(const VerifyOptions& options) {
  try {
    std::vector<attestation::PublicKey> keys;
    for (const auto& file : options.public_keys) keys.push_back(attestation::PublicKey::load(file));
    std::optional<std::filesystem::path> artifacts;
    if (!options.artifacts.empty()) artifacts = options.artifacts;
    if (options.deep && !artifacts)
      throw CLI::ValidationError("--deep", "needs --artifacts DIR, the directory the roll-up's attestation paths are relative to");
    auto envelope = attestation::read_envelope(options.envelope);
    if (claims_to_be_rollup(envelope)) {
      auto verification = attestation::verify_rollup(envelope, keys, artifacts, options.deep);
      if (!verification.statement.valid) {
        std::cout << fmt::format("{}: INVALID: {}\n", options.envelope, verification.statement.reason);
        return exit_code::failed;
      }
      return report_rollup(options, verification, artifacts);
    }
    auto result = attestation::verify_statement(envelope, keys, attestation::drill_predicate_type, artifacts);
    if (!result.valid) {
      std::cout << fmt::format("{}: INVALID: {}\n", options.envelope, result.reason);
      return exit_code::failed;
    }
    const auto& predicate = result.statement["predicate"];
    auto signer = predicate.is_object() && predicate.contains("signer") ? predicate["signer"].value("keyid", "?") : "?";
    std::cout << fmt::format("{}: valid, signed by key {}\n", options.envelope,
                             keys.size() == 1 ? keys.front().key_id() : signer);
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
      "verify", "Verify a signed attestation or roll-up (DSSE envelope over an in-toto Statement) and its subjects");
  verify->add_option("file", options->envelope, "the envelope, e.g. RUN_DIR/attestation.dsse.json or a roll-up")
      ->required();
  verify->add_option("--key", options->public_keys, "trusted public key (SPKI PEM; repeatable, any one may have signed)")
      ->required();
  verify->add_option("--artifacts", options->artifacts,
                     "directory holding the subjects; each must match its attested SHA-256");
  verify->add_flag("--deep", options->deep,
                   "for a roll-up: also verify every included run's attestation and its files (needs --artifacts)");
  verify->callback([options, &result] { result.exit_code = verify_command(*options); });
}

}  // namespace firedrill
