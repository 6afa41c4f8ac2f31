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
  std::string require_result;
};

// Only chooses which verification to run; each takes the Statement from the verified bytes and
// checks its predicate type there.
std::string claimed_predicate_type(const attestation::Envelope& envelope) {
  auto payload = attestation::base64_decode(envelope.payload);
  if (!payload) return {};
  auto statement = nlohmann::json::parse(*payload, nullptr, false);
  if (!statement.is_object() || !statement.contains("predicateType") || !statement["predicateType"].is_string()) return {};
  return statement["predicateType"].get<std::string>();
}

/// With --require-result, a valid statement whose result is another one fails: exit 1.
int required_result(const VerifyOptions& options, const nlohmann::json& result) {
  if (options.require_result.empty() || result == options.require_result) return exit_code::ok;
  std::cout << fmt::format("{}: valid, but its result is {}, not the required {}\n", options.envelope,
                           result.is_string() ? result.get<std::string>() : result.dump(), options.require_result);
  return exit_code::failed;
}

int report_verification_summary(const VerifyOptions& options, const attestation::VerificationResult& result,
                                const std::optional<std::filesystem::path>& artifacts) {
  const auto& predicate = result.statement["predicate"];
  auto verdict = predicate.is_object() ? predicate.value("verificationResult", nlohmann::json()) : nlohmann::json();
  auto unsigned_inputs = predicate.is_object() ? predicate.value("unsignedInputs", nlohmann::json::array())
                                               : nlohmann::json::array();
  std::cout << fmt::format("{}: valid Verification Summary ({}) over {} inputs\n", options.envelope,
                           verdict.is_string() ? verdict.get<std::string>() : "?", result.statement["subject"].size());
  if (unsigned_inputs.is_array() && !unsigned_inputs.empty())
    std::cout << fmt::format("  {} of them unsigned: the gate judged them with --allow-unsigned\n",
                             unsigned_inputs.size());
  std::cout << (artifacts ? fmt::format("  {} inputs match their SHA-256 in {}\n", result.subjects_checked,
                                        artifacts->string())
                          : std::string("  inputs not checked (give --artifacts DIR)\n"));
  return required_result(options, verdict);
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
    std::cout << fmt::format("  {} evidence chains still hold the head the roll-up signed\n", verification.chains_checked);
  }
  return required_result(options, predicate.value("result", nlohmann::json()));
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
    auto claimed = claimed_predicate_type(envelope);
    if (claimed == attestation::vsa_predicate_type) {
      auto result = attestation::verify_statement(envelope, keys, attestation::vsa_predicate_type, artifacts);
      if (!result.valid) {
        std::cout << fmt::format("{}: INVALID: {}\n", options.envelope, result.reason);
        return exit_code::failed;
      }
      return report_verification_summary(options, result, artifacts);
    }
    if (claimed == attestation::rollup_predicate_type) {
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
    // The key whose signature verified: what the payload says about its signer is only a claim.
    std::cout << fmt::format("{}: valid, signed by key {}\n", options.envelope, result.verified_key_id);
    if (predicate.is_object() && predicate.contains("scenario") && predicate.contains("result"))
      std::cout << fmt::format("  scenario {}: {}\n", predicate["scenario"].value("name", "?"),
                               predicate["result"].is_string() ? predicate["result"].get<std::string>() : "?");
    std::cout << (artifacts ? fmt::format("  {} subjects match their SHA-256 in {}\n", result.subjects_checked,
                                          artifacts->string())
                            : std::string("  subjects not checked (give --artifacts DIR)\n"));
    return required_result(options, predicate.is_object() ? predicate.value("result", nlohmann::json()) : nlohmann::json());
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
      "verify",
      "Verify what firedrill signs (a run attestation, a roll-up, a gate's Verification Summary: DSSE envelopes over "
      "in-toto Statements) and its subjects");
  verify->add_option("file", options->envelope, "the envelope, e.g. RUN_DIR/attestation.dsse.json or a roll-up")
      ->required();
  verify->add_option("--key", options->public_keys, "trusted public key (SPKI PEM; repeatable, any one may have signed)")
      ->required();
  verify->add_option("--artifacts", options->artifacts,
                     "directory holding the subjects; each must match its attested SHA-256");
  verify->add_flag("--deep", options->deep,
                   "for a roll-up: also verify every included run's attestation and its files (needs --artifacts)");
  verify->add_option("--require-result", options->require_result,
                     "exit 1 unless the verified result is this one (PASSED): a run's or roll-up's result, a "
                     "Verification Summary's verificationResult")
      ->check(CLI::IsMember({"PASSED", "WARNED", "FAILED"}));
  verify->callback([options, &result] { result.exit_code = verify_command(*options); });
}

}  // namespace firedrill
