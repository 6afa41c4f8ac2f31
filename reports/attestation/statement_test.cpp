#include "reports/attestation/statement.hpp"

#include <gtest/gtest.h>

#include "reports/artifacts.hpp"
#include "reports/attestation/test_support.hpp"

namespace firedrill::attestation {
namespace {

using testing::ScratchDirectory;
using testing::read_file;
using testing::write_file;
using testing::write_run_directory;

nlohmann::json envelope_json(const std::filesystem::path& run_dir) {
  return nlohmann::json::parse(read_file(run_dir / attestation_file_name));
}

std::filesystem::path write_envelope(const std::filesystem::path& file, const nlohmann::json& json) {
  write_file(file, json.dump());
  return file;
}

TEST(DrillPredicate, CarriesTheVerdictMeasurementsAndConfiguration) {
  ScratchDirectory dir;
  write_run_directory(dir.path(), false);
  auto statement = run_statement(dir.path(), "abc");
  EXPECT_EQ(statement["_type"], "https://in-toto.io/Statement/v1");
  EXPECT_EQ(statement["predicateType"], "https://firedrill.dev/attestation/drill/v1");
  ASSERT_EQ(statement["subject"].size(), 4u);
  EXPECT_EQ(statement["subject"][0]["name"], "report.json");
  EXPECT_EQ(statement["subject"][0]["digest"]["sha256"], sha256_file(dir.path() / "report.json"));
  EXPECT_EQ(statement["subject"][3]["name"], "readback.jsonl");
  const auto& predicate = statement["predicate"];
  EXPECT_EQ(predicate["result"], "FAILED");
  EXPECT_EQ(predicate["verdict"], "fail");
  EXPECT_EQ(predicate["failedTests"], nlohmann::json::array({"lost_acked_writes(overall)"}));
  EXPECT_EQ(predicate["passedTests"], nlohmann::json::array({"rto(overall)"}));
  EXPECT_EQ(predicate["scenario"]["name"], "calibration-pause");
  EXPECT_EQ(predicate["runbook"], "measurement calibration (no runbook)");
  EXPECT_EQ(predicate["targets"]["overall"]["rto_seconds"], 3.03);
  EXPECT_EQ(predicate["measured"]["rto_seconds"], 3.009);
  EXPECT_EQ(predicate["measured"]["lost_acked_writes"], 0);
  EXPECT_EQ(predicate["signer"]["keyid"], "abc");
  EXPECT_EQ(predicate["mode"], "run");
  EXPECT_EQ(predicate["started_at"], "2026-11-25T13:32:19.604722Z");
  ASSERT_EQ(predicate["configuration"].size(), 2u);
  EXPECT_EQ(predicate["configuration"][0]["name"], "scenarios/calibration-pause.yaml");
  EXPECT_EQ(predicate["configuration"][0]["digest"]["sha256"],
            "9cbfccc6fc011dd19361a3b48405d4f9286ccaffa960aa9a5780d40c029a0001");
  EXPECT_EQ(predicate["configuration"][1]["name"], "firedrill/postgres:15");
  EXPECT_EQ(predicate["configuration"][1]["digest"]["sha256"],
            "acb1370fca5e7e6cd436725c878713ead68266d076cbf7efbe82ae259dee0d37");
  write_run_directory(dir.path(), true);
  EXPECT_EQ(run_statement(dir.path(), "abc")["predicate"]["result"], "PASSED");
}

// A drill written to fail (`expect: fail`, proving a fault is caught) succeeds by failing: signed
// FAILED it would count against every `latest_must_pass` policy.
TEST(DrillPredicate, AnExpectedFailureIsPassedAndAnUnexpectedPassIsFailed) {
  ScratchDirectory dir;
  write_run_directory(dir.path(), false);
  auto report = nlohmann::json::parse(read_file(dir.path() / "report.json"));
  report["expected"] = "fail";
  write_file(dir.path() / "report.json", report.dump());
  auto predicate = run_statement(dir.path(), "abc")["predicate"];
  EXPECT_EQ(predicate["expected"], "fail");
  EXPECT_EQ(predicate["verdict"], "fail");
  EXPECT_EQ(predicate["result"], "PASSED");
  report["verdict"] = "pass";
  write_file(dir.path() / "report.json", report.dump());
  EXPECT_EQ(run_statement(dir.path(), "abc")["predicate"]["result"], "FAILED");
}

// Security review 2, L8: tags reach the signed predicate, where a roll-up's controls read them.
TEST(DrillPredicate, CarriesTheScenarioTags) {
  ScratchDirectory dir;
  write_run_directory(dir.path());
  auto report = nlohmann::json::parse(read_file(dir.path() / "report.json"));
  EXPECT_EQ(run_statement(dir.path(), "abc")["predicate"]["scenario"]["tags"], nlohmann::json::array());
  report["scenario"]["tags"] = {"full-loss", "soc2"};
  write_file(dir.path() / "report.json", report.dump());
  EXPECT_EQ(run_statement(dir.path(), "abc")["predicate"]["scenario"]["tags"], nlohmann::json({"full-loss", "soc2"}));
}

TEST(DrillPredicate, CarriesTheChainAnchorItIsGiven) {
  ScratchDirectory dir;
  write_run_directory(dir.path());
  EXPECT_FALSE(run_statement(dir.path(), "abc")["predicate"].contains("chain"));
  auto predicate = run_statement(dir.path(), "abc", ChainAnchor{7, std::string(64, 'e')})["predicate"];
  EXPECT_EQ(predicate["chain"], nlohmann::json({{"seq", 7}, {"prev", std::string(64, 'e')}}));
}

TEST(RunStatement, RequiresReportJson) {
  ScratchDirectory dir;
  EXPECT_THROW(run_statement(dir.path(), "abc"), std::runtime_error);
}

class SignedRun : public ::testing::TestWithParam<KeyAlgorithm> {
 protected:
  void SetUp() override {
    write_run_directory(dir.path());
    sign_run_directory(dir.path(), key);
  }
  ScratchDirectory dir;
  SigningKey key = SigningKey::generate(GetParam());
};

TEST_P(SignedRun, VerifiesWithItsSubjects) {
  auto result = verify_envelope(dir.path() / attestation_file_name, key.public_key(), dir.path());
  EXPECT_TRUE(result.valid) << result.reason;
  EXPECT_EQ(result.subjects_checked, 4u);
  EXPECT_EQ(result.statement["predicate"]["signer"]["keyid"], key.key_id());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "attestation.dsse.json.partial"));
}

TEST_P(SignedRun, NamesAChangedSubject) {
  write_file(dir.path() / "acks.jsonl", "{}\n");
  auto result = verify_envelope(dir.path() / attestation_file_name, key.public_key(), dir.path());
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.reason.rfind("subject acks.jsonl changed: sha256 ", 0), 0u) << result.reason;
  EXPECT_TRUE(verify_envelope(dir.path() / attestation_file_name, key.public_key()).valid)
      << "without --artifacts only the signature is checked";
}

TEST_P(SignedRun, NamesAMissingSubject) {
  std::filesystem::remove(dir.path() / "events.jsonl");
  auto result = verify_envelope(dir.path() / attestation_file_name, key.public_key(), dir.path());
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.reason.rfind("subject events.jsonl missing", 0), 0u) << result.reason;
}

TEST_P(SignedRun, TamperedPayloadFailsAndItsStatementIsNotReturned) {
  auto json = envelope_json(dir.path());
  auto payload = nlohmann::json::parse(*base64_decode(json["payload"].get<std::string>()));
  payload["predicate"]["result"] = "PASSED";
  payload["predicate"]["measured"]["rto_seconds"] = 0.1;
  json["payload"] = base64_encode(payload.dump());
  auto result = verify_envelope(write_envelope(dir.path() / "tampered.json", json), key.public_key(), dir.path());
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.reason.rfind("bad signature", 0), 0u) << result.reason;
  EXPECT_TRUE(result.statement.is_null());
}

TEST_P(SignedRun, TamperedSignatureFails) {
  auto json = envelope_json(dir.path());
  auto sig = *base64_decode(json["signatures"][0]["sig"].get<std::string>());
  sig[0] = static_cast<char>(sig[0] ^ 0x80);
  json["signatures"][0]["sig"] = base64_encode(sig);
  auto result = verify_envelope(write_envelope(dir.path() / "tampered.json", json), key.public_key());
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.reason.rfind("bad signature", 0), 0u) << result.reason;
}

TEST_P(SignedRun, WrongKeyFails) {
  auto other = SigningKey::generate(GetParam());
  auto result = verify_envelope(dir.path() / attestation_file_name, other.public_key(), dir.path());
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.reason.rfind("wrong key: no signature verifies with key " + other.key_id(), 0), 0u)
      << result.reason;
}

TEST_P(SignedRun, NotAnEnvelopeThrowsNamingTheFile) {
  auto report = dir.path() / "report.json";
  try {
    verify_envelope(report, key.public_key());
    FAIL();
  } catch (const EnvelopeError& error) {
    EXPECT_EQ(std::string(error.what()), report.string() + ": not a DSSE envelope: \"payloadType\" must be a string");
  }
  write_file(dir.path() / "text", "not json");
  EXPECT_THROW(verify_envelope(dir.path() / "text", key.public_key()), EnvelopeError);
  EXPECT_THROW(verify_envelope(dir.path() / "absent", key.public_key()), EnvelopeError);
}

// Security review 2, L3: with several trusted keys, verify printed the signer the payload
// claims, not the key whose signature verified.
TEST_P(SignedRun, TheKeyThatVerifiedIsReportedNotTheClaimedSigner) {
  auto claimed = SigningKey::generate(GetParam());
  auto statement = run_statement(dir.path(), claimed.key_id());
  ASSERT_EQ(statement["predicate"]["signer"]["keyid"], claimed.key_id());
  const auto envelope = sign_envelope(in_toto_payload_type, statement.dump(), key);
  const auto result = verify_statement(envelope, {claimed.public_key(), key.public_key()}, drill_predicate_type);
  ASSERT_TRUE(result.valid) << result.reason;
  EXPECT_EQ(result.verified_key_id, key.key_id());
  EXPECT_EQ(verify_statement(envelope, {claimed.public_key()}, drill_predicate_type).verified_key_id, "");
}

INSTANTIATE_TEST_SUITE_P(Algorithms, SignedRun, ::testing::Values(KeyAlgorithm::ed25519, KeyAlgorithm::ecdsa_p256),
                         [](const auto& instance) { return instance.param == KeyAlgorithm::ed25519 ? "ed25519" : "p256"; });

// Validly signed envelopes whose content is wrong: each is rejected with its own reason.
TEST(VerifyEnvelope, RejectsWrongPayloadStatementAndPredicateTypes) {
  auto key = SigningKey::generate(KeyAlgorithm::ed25519);
  nlohmann::json statement = {{"_type", statement_type},
                              {"predicateType", drill_predicate_type},
                              {"subject", {{{"name", "report.json"}, {"digest", {{"sha256", "00"}}}}}},
                              {"predicate", nlohmann::json::object()}};
  EXPECT_TRUE(verify_envelope(sign_envelope(in_toto_payload_type, statement.dump(), key), key.public_key()).valid);

  auto result = verify_envelope(sign_envelope("application/json", statement.dump(), key), key.public_key());
  EXPECT_EQ(result.reason, "payload type is 'application/json', expected 'application/vnd.in-toto+json'");

  auto old_statement = statement;
  old_statement["_type"] = "https://in-toto.io/Statement/v0.1";
  result = verify_envelope(sign_envelope(in_toto_payload_type, old_statement.dump(), key), key.public_key());
  EXPECT_EQ(result.reason,
            "statement type is \"https://in-toto.io/Statement/v0.1\", expected 'https://in-toto.io/Statement/v1'");

  auto other_predicate = statement;
  other_predicate["predicateType"] = "https://slsa.dev/provenance/v1";
  result = verify_envelope(sign_envelope(in_toto_payload_type, other_predicate.dump(), key), key.public_key());
  EXPECT_EQ(result.reason.rfind("predicate type is", 0), 0u) << result.reason;

  result = verify_envelope(sign_envelope(in_toto_payload_type, "not json", key), key.public_key());
  EXPECT_EQ(result.reason, "signed payload is not JSON");

  auto escaping = statement;
  escaping["subject"][0]["name"] = "../secret";
  ScratchDirectory dir;
  result = verify_envelope(sign_envelope(in_toto_payload_type, escaping.dump(), key), key.public_key(), dir.path());
  EXPECT_EQ(result.reason, "subject \"../secret\" is not a path inside the artifacts directory");
}

}  // namespace
}  // namespace firedrill::attestation
