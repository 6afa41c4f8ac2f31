// `firedrill attest` and `firedrill verify` through the command line, over run folders signed and
// chained by the library as `firedrill run` does (no engine needed).
#include <gtest/gtest.h>

#include "reports/artifacts.hpp"
#include "reports/attestation/rollup.hpp"
#include "reports/attestation/test_support.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using attestation::testing::ScratchDirectory;
using attestation::testing::read_file;
using attestation::testing::write_file;
using attestation::testing::write_signed_run;

class AttestRollup : public ::testing::Test {
 protected:
  ScratchDirectory scratch;
  attestation::GeneratedKeyFiles keys = attestation::keygen((scratch.path() / "signer").string());
  attestation::SigningKey key = attestation::SigningKey::load(keys.private_key);
  fs::path runs = scratch.path() / "runs";
  fs::path rollup = scratch.path() / "rollup.dsse.json";

  void SetUp() override {
    fs::create_directories(runs);
    write_signed_run(runs, "r1", "quickstart", "2026-11-02T10:00:00Z", true, 2.5, key);
    write_signed_run(runs, "r2", "quickstart", "2026-11-12T10:00:00Z", true, 3.0, key);
    write_signed_run(runs, "r3", "app-crash", "2026-11-22T10:00:00Z", false, 1.0, key);
    write_signed_run(runs, "r0", "quickstart", "2026-10-31T23:00:00Z", true, 1.0, key);
    write_file(scratch.path() / "policy.yaml",
               "version: 1\nrules:\n  - name: failover\n    scenario: quickstart\n    min_runs: 2\n"
               "    latest_must_pass: true\n");
  }

  testing::CommandOutcome firedrill(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), FIREDRILL_BINARY);
    return testing::run_command(arguments, std::chrono::seconds(60));
  }

  testing::CommandOutcome attest(const std::string& policy, bool exclude_unverified = false) {
    std::vector<std::string> arguments{"attest", "--period", "2026-11", "--out", rollup.string(), "--sign-key",
                                       keys.private_key.string(), "--key", keys.public_key.string(), "--policy", policy,
                                       "--controls", FIREDRILL_SOURCE_DIR "/policies/controls.yaml", runs.string()};
    if (exclude_unverified) arguments.push_back("--exclude-unverified");
    return firedrill(arguments);
  }

  /// Run r2's attestation claims a better RTO than it measured; its signature no longer holds.
  void tamper_with_r2() {
    auto r2 = runs / "r2" / "attestation.dsse.json";
    auto envelope = nlohmann::json::parse(read_file(r2));
    auto statement = statement_of(r2);
    statement["predicate"]["measured"]["rto_seconds"] = 0.001;
    envelope["payload"] = attestation::base64_encode(statement.dump());
    write_file(r2, envelope.dump());
  }

  testing::CommandOutcome verify(const fs::path& file, bool deep = true) {
    std::vector<std::string> arguments{"verify", file.string(), "--key", keys.public_key.string(), "--artifacts",
                                       scratch.path().string()};
    if (deep) arguments.push_back("--deep");
    return firedrill(arguments);
  }

  nlohmann::json statement_of(const fs::path& file) {
    auto envelope = nlohmann::json::parse(read_file(file));
    return nlohmann::json::parse(*attestation::base64_decode(envelope["payload"].get<std::string>()));
  }
};

TEST_F(AttestRollup, ARollupOverThreeRunsVerifies) {
  auto attested = attest((scratch.path() / "policy.yaml").string());
  ASSERT_EQ(attested.exit_code, 0) << attested.output;
  EXPECT_NE(attested.output.find("3 runs included, 0 excluded, 1 outside the period"), std::string::npos)
      << attested.output;
  auto statement = statement_of(rollup);
  EXPECT_EQ(statement["predicateType"], attestation::rollup_predicate_type);
  ASSERT_EQ(statement["subject"].size(), 3u);
  EXPECT_EQ(statement["subject"][0]["name"], "runs/r1/attestation.dsse.json");
  EXPECT_EQ(statement["subject"][0]["digest"]["sha256"], sha256_file(runs / "r1" / "attestation.dsse.json"));
  for (const auto& subject : statement["subject"]) EXPECT_NE(subject["name"], "runs/r0/attestation.dsse.json");
  const auto& predicate = statement["predicate"];
  EXPECT_EQ(predicate["period"]["from"], "2026-11-01T00:00:00Z");
  EXPECT_EQ(predicate["period"]["to"], "2026-12-01T00:00:00Z");
  EXPECT_EQ(predicate["result"], "PASSED");
  EXPECT_EQ(predicate["policy"]["rules"][0]["result"], "PASSED");
  EXPECT_EQ(predicate["scenarios"]["quickstart"]["runs"], 2);
  EXPECT_EQ(predicate["scenarios"]["app-crash"]["failed"], 1);
  EXPECT_EQ(predicate["signer"]["keyid"], key.key_id());
  auto markdown = read_file(scratch.path() / "rollup.dsse.md");
  EXPECT_NE(markdown.find("# Drill roll-up 2026-11: PASSED"), std::string::npos) << markdown;

  auto verified = verify(rollup);
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("valid roll-up of 2026-11 (PASSED), 3 attestations"), std::string::npos)
      << verified.output;
  EXPECT_NE(verified.output.find("3 included runs verified with their files"), std::string::npos) << verified.output;
  auto run = firedrill({"verify", (runs / "r1" / "attestation.dsse.json").string(), "--key", keys.public_key.string(),
                        "--artifacts", (runs / "r1").string()});
  EXPECT_EQ(run.exit_code, 0) << "run attestations verify as before: " << run.output;
}

TEST_F(AttestRollup, ATamperedAttestationRefusesTheRollupNamingIt) {
  tamper_with_r2();

  auto refused = attest((scratch.path() / "policy.yaml").string());
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("runs/r2/attestation.dsse.json"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("no roll-up written"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(rollup));
}

TEST_F(AttestRollup, WithExcludeUnverifiedATamperedAttestationIsExcludedWithItsReason) {
  tamper_with_r2();

  auto attested = attest((scratch.path() / "policy.yaml").string(), true);
  EXPECT_EQ(attested.exit_code, 1) << "with r2 excluded, quickstart ran once of the two required: " << attested.output;
  // Its signature does not hold, so nothing it says dates it: listed whatever its report claims.
  EXPECT_NE(attested.output.find("excluded runs/r2/attestation.dsse.json (period unknown): "), std::string::npos)
      << attested.output;
  auto predicate = statement_of(rollup)["predicate"];
  ASSERT_EQ(predicate["excluded"].size(), 1u);
  EXPECT_EQ(predicate["excluded"][0]["run_id"], "r2");
  EXPECT_NE(predicate["excluded"][0]["reason"].get<std::string>().find("signature"), std::string::npos)
      << predicate["excluded"][0];
  EXPECT_EQ(predicate["result"], "FAILED");
  EXPECT_FALSE(predicate["chains"][0]["valid"]) << "the chain also shows r2 changed";
  EXPECT_EQ(statement_of(rollup)["subject"].size(), 2u);
  auto verified = verify(rollup);
  EXPECT_EQ(verified.exit_code, 0) << "what the roll-up includes still verifies: " << verified.output;
  auto markdown = read_file(scratch.path() / "rollup.dsse.md");
  EXPECT_NE(markdown.find("- `runs/r2/attestation.dsse.json` (r2, period unknown): "), std::string::npos) << markdown;
}

TEST_F(AttestRollup, AFailingPolicyStillWritesTheRollupAndExits1) {
  write_file(scratch.path() / "strict.yaml",
             "version: 1\nrules:\n  - name: crash recovery passes\n    scenario: app-crash\n    min_passed: 1\n"
             "  - name: full environment loss\n    scenario: full-environment-loss\n");
  auto attested = attest((scratch.path() / "strict.yaml").string());
  EXPECT_EQ(attested.exit_code, 1) << attested.output;
  EXPECT_NE(attested.output.find("policy rule 'full environment loss': FAILED"), std::string::npos) << attested.output;
  auto predicate = statement_of(rollup)["predicate"];
  EXPECT_EQ(predicate["result"], "FAILED");
  EXPECT_EQ(predicate["policy"]["rules"][0]["windows"][0]["reasons"][0], "0 passed, at least 1 required");
  EXPECT_EQ(predicate["policy"]["rules"][1]["windows"][0]["reasons"][0], "ran 0 times, at least 1 required");
  auto markdown = read_file(scratch.path() / "rollup.dsse.md");
  EXPECT_NE(markdown.find("# Drill roll-up 2026-11: FAILED"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("ran 0 times, at least 1 required"), std::string::npos) << markdown;
  EXPECT_EQ(verify(rollup).exit_code, 0) << "a FAILED roll-up is still a valid, signed statement of what happened";
}

TEST_F(AttestRollup, AModifiedRollupFailsVerification) {
  ASSERT_EQ(attest((scratch.path() / "policy.yaml").string()).exit_code, 0);
  auto original = read_file(rollup);
  auto envelope = nlohmann::json::parse(original);

  auto statement = statement_of(rollup);
  statement["predicate"]["totals"]["failed"] = 0;
  envelope["payload"] = attestation::base64_encode(statement.dump());
  write_file(scratch.path() / "payload.dsse.json", envelope.dump());
  auto payload_changed = verify(scratch.path() / "payload.dsse.json");
  EXPECT_EQ(payload_changed.exit_code, 1) << payload_changed.output;
  EXPECT_NE(payload_changed.output.find("INVALID"), std::string::npos) << payload_changed.output;

  envelope = nlohmann::json::parse(original);
  auto sig = *attestation::base64_decode(envelope["signatures"][0]["sig"].get<std::string>());
  sig[5] = static_cast<char>(sig[5] ^ 0x20);
  envelope["signatures"][0]["sig"] = attestation::base64_encode(sig);
  write_file(scratch.path() / "sig.dsse.json", envelope.dump());
  EXPECT_EQ(verify(scratch.path() / "sig.dsse.json").exit_code, 1);

  auto other = attestation::keygen((scratch.path() / "other").string());
  auto wrong_key = firedrill({"verify", rollup.string(), "--key", other.public_key.string()});
  EXPECT_EQ(wrong_key.exit_code, 1) << wrong_key.output;

  auto r3 = runs / "r3" / "attestation.dsse.json";
  auto r3_content = read_file(r3);
  fs::remove(r3);
  auto missing = verify(rollup, false);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("subject runs/r3/attestation.dsse.json missing"), std::string::npos) << missing.output;
  write_file(r3, r3_content);

  write_file(runs / "r1" / "report.json", read_file(runs / "r1" / "report.json") + "\n");
  auto shallow = verify(rollup, false);
  EXPECT_EQ(shallow.exit_code, 0) << shallow.output;
  auto deep = verify(rollup, true);
  EXPECT_EQ(deep.exit_code, 1) << deep.output;
  EXPECT_NE(deep.output.find("included run runs/r1/attestation.dsse.json: subject report.json changed"),
            std::string::npos)
      << deep.output;

  write_file(scratch.path() / "not-an-envelope.json", "{\"hello\": 1}");
  EXPECT_EQ(verify(scratch.path() / "not-an-envelope.json").exit_code, 2);
}

TEST_F(AttestRollup, BadInputIsExit2WithAClearMessage) {
  auto bad_period = firedrill({"attest", "--period", "2026-13", "--out", rollup.string(), "--sign-key",
                               keys.private_key.string(), runs.string()});
  EXPECT_EQ(bad_period.exit_code, 2);
  EXPECT_NE(bad_period.output.find("period '2026-13': month 13 is not 01..12"), std::string::npos) << bad_period.output;
  auto no_dir = firedrill({"attest", "--period", "2026-11", "--out", rollup.string(), "--sign-key",
                           keys.private_key.string(), (scratch.path() / "nowhere").string()});
  EXPECT_EQ(no_dir.exit_code, 2) << no_dir.output;
  EXPECT_NE(no_dir.output.find("not a directory of runs"), std::string::npos) << no_dir.output;
  EXPECT_FALSE(fs::exists(rollup));
}

}  // namespace
}  // namespace firedrill
