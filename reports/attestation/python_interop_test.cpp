// Interoperability with an independent implementation: Python's `cryptography` (Debian's
// python3-cryptography) computing the DSSE pre-authentication encoding itself
// (tests/interop/dsse.py), over run attestations and roll-ups, in both directions.
#include <sys/wait.h>

#include <cstdio>

#include <gtest/gtest.h>

#include "reports/attestation/rollup.hpp"
#include "reports/attestation/test_support.hpp"

namespace firedrill::attestation {

void PrintTo(KeyAlgorithm algorithm, std::ostream* out) { *out << algorithm_name(algorithm); }

namespace {

using testing::ScratchDirectory;
using testing::read_file;
using testing::write_file;
using testing::write_run_directory;
using testing::write_signed_run;

struct CommandOutput {
  int exit_code = -1;
  std::string output;
};

CommandOutput python(const std::string& arguments) {
  CommandOutput result;
  auto command = std::string(FIREDRILL_PYTHON " " FIREDRILL_SOURCE_DIR "/tests/interop/dsse.py ") + arguments + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class PythonInterop : public ::testing::TestWithParam<KeyAlgorithm> {
 protected:
  ScratchDirectory scratch;
  std::string python_algorithm() const { return GetParam() == KeyAlgorithm::ed25519 ? "ed25519" : "p256"; }
};

TEST_P(PythonInterop, PythonVerifiesFiredrillsRunAttestation) {
  auto run = scratch.path() / "run";
  std::filesystem::create_directories(run);
  write_run_directory(run);
  auto files = keygen((scratch.path() / "signer").string(), GetParam());
  auto envelope = sign_run_directory(run, SigningKey::load(files.private_key));
  auto verified = python("verify " + envelope.string() + " " + files.public_key.string() + " --artifacts " + run.string());
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("verified https://firedrill.dev/attestation/drill/v1 with key " +
                                 SigningKey::load(files.private_key).key_id() + "; 4 subjects checked"),
            std::string::npos)
      << verified.output;

  write_file(run / "acks.jsonl", read_file(run / "acks.jsonl") + "{}\n");
  auto changed = python("verify " + envelope.string() + " " + files.public_key.string() + " --artifacts " + run.string());
  EXPECT_EQ(changed.exit_code, 1) << changed.output;
  EXPECT_NE(changed.output.find("subject acks.jsonl changed"), std::string::npos) << changed.output;

  auto other = keygen((scratch.path() / "other").string(), GetParam());
  auto wrong_key = python("verify " + envelope.string() + " " + other.public_key.string());
  EXPECT_EQ(wrong_key.exit_code, 1) << wrong_key.output;
}

TEST_P(PythonInterop, PythonVerifiesFiredrillsRollup) {
  auto files = keygen((scratch.path() / "signer").string(), GetParam());
  auto key = SigningKey::load(files.private_key);
  auto runs = scratch.path() / "runs";
  std::filesystem::create_directories(runs);
  write_signed_run(runs, "r1", "quickstart", "2026-11-02T10:00:00Z", true, 2.0, key);
  write_signed_run(runs, "r2", "app-crash", "2026-11-03T10:00:00Z", false, 4.0, key);
  auto period = parse_period("2026-11");
  auto collection = collect_runs({runs}, period, {key.public_key()});
  RollupInputs inputs;
  inputs.period = period;
  inputs.signer_key_id = key.key_id();
  auto rollup = scratch.path() / "rollup.dsse.json";
  write_file(rollup, to_json(sign_envelope(in_toto_payload_type, rollup_statement(collection, inputs).dump(), key)).dump());

  auto verified = python("verify " + rollup.string() + " " + files.public_key.string() + " --artifacts " +
                         scratch.path().string());
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("verified https://firedrill.dev/attestation/rollup/v1"), std::string::npos)
      << verified.output;
  EXPECT_NE(verified.output.find("; 2 subjects checked"), std::string::npos) << verified.output;

  auto r1 = runs / "r1" / "attestation.dsse.json";
  write_file(r1, read_file(r1) + "\n");
  auto changed = python("verify " + rollup.string() + " " + files.public_key.string() + " --artifacts " +
                        scratch.path().string());
  EXPECT_EQ(changed.exit_code, 1) << changed.output;
  EXPECT_NE(changed.output.find("subject runs/r1/attestation.dsse.json changed"), std::string::npos) << changed.output;
}

TEST_P(PythonInterop, FiredrillVerifiesAnEnvelopeSignedByPython) {
  auto key_file = scratch.path() / "python.key", pub_file = scratch.path() / "python.pub";
  auto made = python("keygen " + python_algorithm() + " " + key_file.string() + " " + pub_file.string());
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto trusted = PublicKey::load(pub_file);
  EXPECT_EQ(trusted.algorithm(), GetParam());

  auto run = scratch.path() / "run";
  std::filesystem::create_directories(run);
  write_run_directory(run);
  write_file(scratch.path() / "statement.json", run_statement(run, trusted.key_id()).dump());
  auto envelope = scratch.path() / "python.dsse.json";
  auto signed_statement = python("sign " + (scratch.path() / "statement.json").string() + " " + key_file.string() + " " +
                                 envelope.string());
  ASSERT_EQ(signed_statement.exit_code, 0) << signed_statement.output;
  auto json = nlohmann::json::parse(read_file(envelope));
  EXPECT_EQ(json["signatures"][0]["keyid"], trusted.key_id()) << "the same key id on both sides";

  auto result = verify_envelope(envelope, trusted, run);
  EXPECT_TRUE(result.valid) << result.reason;
  EXPECT_EQ(result.subjects_checked, 4u);
  auto stranger = SigningKey::generate(GetParam());
  EXPECT_FALSE(verify_envelope(envelope, stranger.public_key()).valid);

  // A roll-up signed by Python, too.
  auto runs = scratch.path() / "runs";
  std::filesystem::create_directories(runs);
  auto run_key = SigningKey::generate(KeyAlgorithm::ed25519);
  write_signed_run(runs, "r1", "quickstart", "2026-11-02T10:00:00Z", true, 2.0, run_key);
  auto period = parse_period("2026-11");
  RollupInputs inputs;
  inputs.period = period;
  inputs.signer_key_id = trusted.key_id();
  write_file(scratch.path() / "rollup.json",
             rollup_statement(collect_runs({runs}, period, {run_key.public_key()}), inputs).dump());
  auto rollup = scratch.path() / "rollup.dsse.json";
  ASSERT_EQ(python("sign " + (scratch.path() / "rollup.json").string() + " " + key_file.string() + " " + rollup.string())
                .exit_code,
            0);
  auto verification = verify_rollup(read_envelope(rollup), {trusted, run_key.public_key()}, scratch.path(), true);
  EXPECT_TRUE(verification.statement.valid) << verification.statement.reason;
  EXPECT_EQ(verification.runs_verified, 1u);
}

INSTANTIATE_TEST_SUITE_P(Keys, PythonInterop, ::testing::Values(KeyAlgorithm::ed25519, KeyAlgorithm::ecdsa_p256),
                         [](const ::testing::TestParamInfo<KeyAlgorithm>& param_info) {
                           return param_info.param == KeyAlgorithm::ed25519 ? std::string("Ed25519") : std::string("P256");
                         });

}  // namespace
}  // namespace firedrill::attestation
