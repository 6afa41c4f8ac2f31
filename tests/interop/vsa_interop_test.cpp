// The Verification Summary `firedrill gate --sign-key` writes, checked by two implementations
// independent of firedrill — Python's `cryptography` (tests/interop/dsse.py) and Sigstore's
// @sigstore/core on Node (tests/interop/sigstore_verify.js) — as run attestations and roll-ups
// are; and a summary Python signs is verified by `firedrill verify`.
#include <cstdlib>

#include <gtest/gtest.h>

#include "reports/artifacts.hpp"
#include "reports/attestation/rollup.hpp"
#include "reports/attestation/test_support.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using attestation::KeyAlgorithm;
using attestation::testing::ScratchDirectory;
using attestation::testing::read_file;
using attestation::testing::write_file;
using attestation::testing::write_signed_run;

const char* const sigstore_module = FIREDRILL_SOURCE_DIR "/tests/interop/node_modules/@sigstore/core/package.json";

class VsaInterop : public ::testing::TestWithParam<KeyAlgorithm> {
 protected:
  ScratchDirectory scratch;
  attestation::GeneratedKeyFiles keys = attestation::keygen((scratch.path() / "signer").string(), GetParam());
  attestation::SigningKey key = attestation::SigningKey::load(keys.private_key);
  fs::path runs = scratch.path() / "runs";
  fs::path vsa = scratch.path() / "gate.vsa.json";

  void SetUp() override {
    fs::create_directories(runs);
    write_signed_run(runs, "r1", "quickstart", "2026-11-02T10:00:00Z", true, 2.5, key);
    write_signed_run(runs, "r2", "quickstart", "2026-11-12T10:00:00Z", true, 3.0, key);
  }

  testing::CommandOutcome firedrill(std::vector<std::string> arguments) const {
    arguments.insert(arguments.begin(), FIREDRILL_BINARY);
    return testing::run_command(arguments, std::chrono::seconds(60));
  }
  testing::CommandOutcome python(std::vector<std::string> arguments) const {
    arguments.insert(arguments.begin(), {FIREDRILL_PYTHON, FIREDRILL_SOURCE_DIR "/tests/interop/dsse.py"});
    return testing::run_command(arguments, std::chrono::seconds(60));
  }
  testing::CommandOutcome sigstore(std::vector<std::string> arguments) const {
    arguments.insert(arguments.begin(), {FIREDRILL_NODE, FIREDRILL_SOURCE_DIR "/tests/interop/sigstore_verify.js"});
    return testing::run_command(arguments, std::chrono::seconds(60));
  }
  /// Sigstore's packages come from ci/setup (npm): without them the test fails under CI and is
  /// skipped elsewhere, saying how to get them.
  bool sigstore_available() const {
    if (fs::exists(sigstore_module) && fs::exists(FIREDRILL_NODE)) return true;
    if (std::getenv("CI")) ADD_FAILURE() << "no Node or @sigstore/core (ci/setup installs them into tests/interop)";
    return false;
  }
};

TEST_P(VsaInterop, PythonAndSigstoreVerifyTheGatesSummary) {
  auto gate = firedrill({"gate", (runs / "r1").string(), (runs / "r2").string(), "--sign-key",
                         keys.private_key.string(), "--vsa", vsa.string()});
  ASSERT_EQ(gate.exit_code, 0) << gate.output;
  const auto expected = "verified https://slsa.dev/verification_summary/v1 with key " + key.key_id() +
                        "; 2 subjects checked";
  auto by_python = python({"verify", vsa.string(), keys.public_key.string(), "--artifacts", scratch.path().string()});
  EXPECT_EQ(by_python.exit_code, 0) << by_python.output;
  EXPECT_NE(by_python.output.find(expected), std::string::npos) << by_python.output;

  auto other = attestation::keygen((scratch.path() / "other").string(), GetParam());
  auto wrong_key = python({"verify", vsa.string(), other.public_key.string()});
  EXPECT_EQ(wrong_key.exit_code, 1) << wrong_key.output;

  if (sigstore_available()) {
    auto by_sigstore = sigstore({vsa.string(), keys.public_key.string(), "--artifacts", scratch.path().string()});
    EXPECT_EQ(by_sigstore.exit_code, 0) << by_sigstore.output;
    EXPECT_NE(by_sigstore.output.find("sigstore " + expected), std::string::npos) << by_sigstore.output;
    auto run = sigstore({(runs / "r1" / "attestation.dsse.json").string(), keys.public_key.string(), "--artifacts",
                         (runs / "r1").string()});
    EXPECT_EQ(run.exit_code, 0) << "a run attestation too: " << run.output;
    auto foreign = sigstore({vsa.string(), other.public_key.string()});
    EXPECT_EQ(foreign.exit_code, 1) << foreign.output;
    EXPECT_NE(foreign.output.find("no signature verifies with the key"), std::string::npos) << foreign.output;
  }

  // The summary is over the runs' attestations: another r1 is not the r1 the gate judged.
  auto report = nlohmann::json::parse(read_file(runs / "r1" / "report.json"));
  report["verdict"] = "fail";
  write_file(runs / "r1" / "report.json", report.dump());
  attestation::sign_run_directory(runs / "r1", key);
  auto changed = python({"verify", vsa.string(), keys.public_key.string(), "--artifacts", scratch.path().string()});
  EXPECT_EQ(changed.exit_code, 1) << changed.output;
  EXPECT_NE(changed.output.find("subject runs/r1/attestation.dsse.json changed"), std::string::npos) << changed.output;
  if (sigstore_available()) {
    auto by_sigstore = sigstore({vsa.string(), keys.public_key.string(), "--artifacts", scratch.path().string()});
    EXPECT_EQ(by_sigstore.exit_code, 1) << by_sigstore.output;
    EXPECT_NE(by_sigstore.output.find("subject runs/r1/attestation.dsse.json changed"), std::string::npos)
        << by_sigstore.output;
  }
}

TEST_P(VsaInterop, SigstoreVerifiesARollup) {
  if (!sigstore_available()) GTEST_SKIP() << "no Node or @sigstore/core: run ci/setup";
  auto rollup = scratch.path() / "rollup.dsse.json";
  auto attested = firedrill({"attest", "--period", "2026-11", "--out", rollup.string(), "--sign-key",
                             keys.private_key.string(), runs.string()});
  ASSERT_EQ(attested.exit_code, 0) << attested.output;
  auto verified = sigstore({rollup.string(), keys.public_key.string(), "--artifacts", scratch.path().string()});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("sigstore verified https://firedrill.dev/attestation/rollup/v1"), std::string::npos)
      << verified.output;
}

TEST_P(VsaInterop, FiredrillVerifiesASummarySignedByPython) {
  auto key_file = scratch.path() / "python.key", pub_file = scratch.path() / "python.pub";
  auto algorithm = GetParam() == KeyAlgorithm::ed25519 ? "ed25519" : "p256";
  ASSERT_EQ(python({"keygen", algorithm, key_file.string(), pub_file.string()}).exit_code, 0);
  nlohmann::json subject = {{"name", "runs/r1/attestation.dsse.json"},
                            {"digest", {{"sha256", sha256_file(runs / "r1" / "attestation.dsse.json")}}}};
  nlohmann::json statement = {{"_type", "https://in-toto.io/Statement/v1"},
                              {"subject", nlohmann::json::array({subject})},
                              {"predicateType", "https://slsa.dev/verification_summary/v1"},
                              {"predicate", {{"verificationResult", "PASSED"}}}};
  write_file(scratch.path() / "statement.json", statement.dump());
  ASSERT_EQ(python({"sign", (scratch.path() / "statement.json").string(), key_file.string(), vsa.string()}).exit_code, 0);
  auto verified = firedrill({"verify", vsa.string(), "--key", pub_file.string(), "--artifacts",
                             scratch.path().string(), "--require-result", "PASSED"});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("valid Verification Summary (PASSED)"), std::string::npos) << verified.output;
}

INSTANTIATE_TEST_SUITE_P(Keys, VsaInterop, ::testing::Values(KeyAlgorithm::ed25519, KeyAlgorithm::ecdsa_p256),
                         [](const ::testing::TestParamInfo<KeyAlgorithm>& key_info) {
                           return key_info.param == KeyAlgorithm::ed25519 ? std::string("Ed25519") : std::string("P256");
                         });

}  // namespace
}  // namespace firedrill
