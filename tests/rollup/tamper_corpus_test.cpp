// The tamper corpus: every way an adversary without the key could bend firedrill's signed
// evidence — a run's files, the evidence chain, the roll-up, the gate's Verification Summary,
// the envelopes themselves — each applied to a fresh runs directory signed as `firedrill run`
// signs it, and each judged through the command line with the exit code and message expected.
#include <algorithm>
#include <functional>
#include <sstream>

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

/// Runs r1, r2 (passing) and r3 (failing) of November and r0 of October in runs/, a roll-up of
/// November and a gate's Verification Summary over r1 and r2, all made before any tampering.
struct Evidence {
  ScratchDirectory scratch;
  attestation::GeneratedKeyFiles keys = attestation::keygen((scratch.path() / "signer").string());
  attestation::SigningKey key = attestation::SigningKey::load(keys.private_key);
  fs::path runs = scratch.path() / "runs";
  fs::path rollup = scratch.path() / "rollup.dsse.json";
  fs::path vsa = scratch.path() / "gate.vsa.json";

  Evidence() {
    fs::create_directories(runs);
    write_signed_run(runs, "r1", "quickstart", "2026-11-02T10:00:00Z", true, 2.5, key);
    write_signed_run(runs, "r2", "quickstart", "2026-11-12T10:00:00Z", true, 3.0, key);
    write_signed_run(runs, "r3", "app-crash", "2026-11-22T10:00:00Z", false, 1.0, key);
    write_signed_run(runs, "r0", "quickstart", "2026-10-31T23:00:00Z", true, 1.0, key);
  }

  testing::CommandOutcome firedrill(std::vector<std::string> arguments) const {
    arguments.insert(arguments.begin(), FIREDRILL_BINARY);
    return testing::run_command(arguments, std::chrono::seconds(60));
  }
  testing::CommandOutcome attest(std::vector<std::string> dirs) const {
    std::vector<std::string> arguments{"attest", "--period", "2026-11", "--out", rollup.string(), "--sign-key",
                                       keys.private_key.string()};
    arguments.insert(arguments.end(), dirs.begin(), dirs.end());
    return firedrill(arguments);
  }
  testing::CommandOutcome gate() const {
    return firedrill({"gate", (runs / "r1").string(), (runs / "r2").string(), "--sign-key", keys.private_key.string(),
                      "--vsa", vsa.string()});
  }
  testing::CommandOutcome verify(const fs::path& file, const std::string& public_key = "") const {
    return firedrill({"verify", file.string(), "--key", public_key.empty() ? keys.public_key.string() : public_key,
                      "--artifacts", scratch.path().string()});
  }
  testing::CommandOutcome chain_verify() const {
    return firedrill({"chain", "verify", runs.string(), "--key", keys.public_key.string()});
  }
  testing::CommandOutcome require_vsa() const {
    return testing::run_command({FIREDRILL_PYTHON, FIREDRILL_SOURCE_DIR "/ci/require-vsa", "--key",
                                 keys.public_key.string(), "--artifacts", scratch.path().string(), vsa.string()},
                                std::chrono::seconds(60));
  }

  std::vector<std::string> chain_lines() const {
    std::vector<std::string> lines;
    std::istringstream in(read_file(runs / "chain.jsonl"));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  void write_chain(const std::vector<std::string>& lines) const {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    write_file(runs / "chain.jsonl", text);
  }
  static nlohmann::json statement_of(const fs::path& envelope_file) {
    auto envelope = nlohmann::json::parse(read_file(envelope_file));
    return nlohmann::json::parse(*attestation::base64_decode(envelope["payload"].get<std::string>()));
  }
  /// Rewrites entry to say what the chain needs it to say, and recomputes its hash: anyone can.
  static std::string rehashed(nlohmann::json entry) {
    entry.erase("hash");
    entry["hash"] = sha256_hex(entry.dump());
    return entry.dump();
  }
};

struct TamperCase {
  std::string name;
  /// Makes what the case needs before tampering (a roll-up, a gate summary); may be empty.
  std::function<void(Evidence&)> before;
  std::function<void(Evidence&)> tamper;
  std::function<testing::CommandOutcome(Evidence&)> judge;
  int exit_code;
  std::string message;
};

void make_rollup(Evidence& evidence) {
  auto made = evidence.attest({evidence.runs.string()});
  ASSERT_EQ(made.exit_code, 0) << made.output;
}

void make_gate_summary(Evidence& evidence) {
  auto made = evidence.gate();
  ASSERT_EQ(made.exit_code, 0) << made.output;
}

void edit_report(Evidence& evidence, const std::string& run, const std::function<void(nlohmann::json&)>& edit) {
  auto file = evidence.runs / run / "report.json";
  auto report = nlohmann::json::parse(read_file(file));
  edit(report);
  write_file(file, report.dump(2));
}

/// payload and signatures re-encoded in the URL-safe base64 alphabet, unpadded (DSSE lets a
/// signer use either alphabet): the same signed bytes, which must still verify.
void reencode(const fs::path& file, bool url_safe) {
  auto envelope = nlohmann::json::parse(read_file(file));
  auto encode = [&](const std::string& text) {
    auto bytes = *attestation::base64_decode(text);
    auto encoded = attestation::base64_encode(bytes);
    if (url_safe) {
      std::replace(encoded.begin(), encoded.end(), '+', '-');
      std::replace(encoded.begin(), encoded.end(), '/', '_');
      encoded.erase(encoded.find_last_not_of('=') + 1);
    }
    return encoded;
  };
  envelope["payload"] = encode(envelope["payload"].get<std::string>());
  for (auto& signature : envelope["signatures"]) signature["sig"] = encode(signature["sig"].get<std::string>());
  write_file(file, envelope.dump());
}

const std::vector<TamperCase>& corpus() {
  static const std::vector<TamperCase> cases{
      {"ReportDateEdited", {},
       [](Evidence& e) { edit_report(e, "r3", [](nlohmann::json& r) { r["started_at"] = "2000-01-01T00:00:00Z"; }); },
       [](Evidence& e) { return e.attest({e.runs.string()}); }, 1,
       "runs/r3/attestation.dsse.json: subject report.json changed"},
      {"ReportDateEditedWithExcludeUnverified", {},
       [](Evidence& e) { edit_report(e, "r3", [](nlohmann::json& r) { r["started_at"] = "2000-01-01T00:00:00Z"; }); },
       [](Evidence& e) {
         auto outcome = e.attest({e.runs.string(), "--exclude-unverified"});
         // Listed, not "outside the period": the date of a run that does not verify is unknown.
         EXPECT_NE(outcome.output.find("2 runs included, 1 excluded, 1 outside the period"), std::string::npos)
             << outcome.output;
         return outcome;
       },
       0, "excluded runs/r3/attestation.dsse.json (period unknown): subject report.json changed"},
      {"ReportFigureEdited", {},
       [](Evidence& e) { edit_report(e, "r2", [](nlohmann::json& r) { r["measured"]["rto_seconds"] = 0.1; }); },
       [](Evidence& e) {
         return e.firedrill({"verify", (e.runs / "r2" / "attestation.dsse.json").string(), "--key",
                             e.keys.public_key.string(), "--artifacts", (e.runs / "r2").string()});
       },
       1, "INVALID: subject report.json changed"},
      {"PredicateSwappedBetweenRuns", {},
       [](Evidence& e) {
         // r3 failed; r2's passing attestation and files copied over it, and the chain rewritten
         // to match the copy.
         for (const char* file : {"attestation.dsse.json", "report.json", "events.jsonl", "acks.jsonl", "readback.jsonl"})
           fs::copy_file(e.runs / "r2" / file, e.runs / "r3" / file, fs::copy_options::overwrite_existing);
         auto lines = e.chain_lines();
         auto third = nlohmann::json::parse(lines[2]);
         third["attestation_sha256"] = sha256_file(e.runs / "r3" / "attestation.dsse.json");
         lines[2] = Evidence::rehashed(third);
         auto fourth = nlohmann::json::parse(lines[3]);
         fourth["prev"] = nlohmann::json::parse(lines[2])["hash"];
         lines[3] = Evidence::rehashed(fourth);
         e.write_chain(lines);
       },
       [](Evidence& e) { return e.chain_verify(); }, 1,
       "entry 3 (line 3, run r3): attestation r3/attestation.dsse.json is the signed statement of run \"r2\", not of "
       "run r3"},
      {"MiddleRunRemoved", {},
       [](Evidence& e) {
         auto lines = e.chain_lines();
         auto first = nlohmann::json::parse(lines[0]);
         auto third = nlohmann::json::parse(lines[2]);
         third["seq"] = 2;
         third["prev"] = first["hash"];
         auto fourth = nlohmann::json::parse(lines[3]);
         fourth["seq"] = 3;
         fourth["prev"] = nlohmann::json::parse(Evidence::rehashed(third))["hash"];
         e.write_chain({lines[0], Evidence::rehashed(third), Evidence::rehashed(fourth)});
         fs::remove_all(e.runs / "r2");
       },
       [](Evidence& e) { return e.chain_verify(); }, 1,
       "entry 2 (line 2, run r3): its run signed that it extends entry 2 with hash"},
      {"LastRunRemovedWithItsChainLine", make_rollup,
       [](Evidence& e) {
         auto lines = e.chain_lines();
         lines.pop_back();
         e.write_chain(lines);
         fs::remove_all(e.runs / "r0");
         // The documented gap: from inside the directory this cannot be seen.
         auto inside = e.chain_verify();
         EXPECT_EQ(inside.exit_code, 0) << inside.output;
       },
       [](Evidence& e) { return e.verify(e.rollup); }, 1,
       "INVALID: chain runs: the chain has 3 entries, fewer than the 4 it had when it was signed (truncated)"},
      {"EntriesReordered", {},
       [](Evidence& e) {
         auto lines = e.chain_lines();
         std::swap(lines[1], lines[2]);
         e.write_chain(lines);
       },
       [](Evidence& e) { return e.chain_verify(); }, 1,
       "BROKEN: entry 3 (line 2, run r3): sequence number 3 where 2 was expected"},
      {"DirectoryPassedTwice", {}, [](Evidence&) {},
       [](Evidence& e) {
         auto outcome = e.attest({e.runs.string(), e.runs.string(), (e.runs / ".." / "runs").string()});
         EXPECT_EQ(Evidence::statement_of(e.rollup)["subject"].size(), 3u);
         return outcome;
       },
       0, "3 runs included, 0 excluded, 1 outside the period"},
      {"TornChainLine", {},
       [](Evidence& e) {
         auto text = read_file(e.runs / "chain.jsonl");
         write_file(e.runs / "chain.jsonl", text.substr(0, text.size() - 7));
       },
       [](Evidence& e) { return e.chain_verify(); }, 1, "chain.jsonl:4: the last line is torn"},
      {"WronglyTypedChainEntry", {},
       [](Evidence& e) {
         auto lines = e.chain_lines();
         auto entry = nlohmann::json::parse(lines[1]);
         entry["seq"] = "2";
         lines[1] = entry.dump();
         e.write_chain(lines);
       },
       [](Evidence& e) { return e.chain_verify(); }, 1,
       "chain.jsonl:2: not a chain entry: \"seq\" must be a whole number from 1"},
      {"ChainEntryPointingAtADevice", {},
       [](Evidence& e) {
         auto lines = e.chain_lines();
         auto entry = nlohmann::json::parse(lines[0]);
         entry["attestation"] = "/dev/zero";
         lines[0] = Evidence::rehashed(entry);
         e.write_chain(lines);
       },
       [](Evidence& e) { return e.chain_verify(); }, 1,
       "attestation path '/dev/zero' is not RUN/attestation.dsse.json inside the runs directory"},
      {"UnsignedVsa", {},
       [](Evidence& e) {
         nlohmann::json statement = {{"_type", "https://in-toto.io/Statement/v1"},
                                     {"subject", nlohmann::json::array()},
                                     {"predicateType", "https://slsa.dev/verification_summary/v1"},
                                     {"predicate", {{"verificationResult", "PASSED"}}}};
         write_file(e.vsa, nlohmann::json({{"payloadType", "application/vnd.in-toto+json"},
                                           {"payload", attestation::base64_encode(statement.dump())},
                                           {"signatures", nlohmann::json::array()}})
                               .dump());
         auto gate = e.require_vsa();
         EXPECT_EQ(gate.exit_code, 1) << gate.output;
         EXPECT_NE(gate.output.find("REFUSED: the envelope has no signatures"), std::string::npos) << gate.output;
       },
       [](Evidence& e) { return e.verify(e.vsa); }, 1, "INVALID: the envelope has no signatures"},
      {"VsaSignedOverOtherReports", make_gate_summary,
       [](Evidence& e) {
         // r1 judged by the gate is replaced by another signed r1, one that failed.
         edit_report(e, "r1", [](nlohmann::json& r) { r["verdict"] = "fail"; });
         attestation::sign_run_directory(e.runs / "r1", e.key);
         auto gate = e.require_vsa();
         EXPECT_EQ(gate.exit_code, 1) << gate.output;
         EXPECT_NE(gate.output.find("subject runs/r1/attestation.dsse.json changed"), std::string::npos) << gate.output;
       },
       [](Evidence& e) { return e.verify(e.vsa); }, 1, "INVALID: subject runs/r1/attestation.dsse.json changed"},
      {"KeySwapped", make_rollup,
       [](Evidence& e) {
         // Re-signed by someone else's key: an attestation anyone could make.
         auto stranger = attestation::SigningKey::generate(attestation::KeyAlgorithm::ed25519);
         auto envelope = attestation::read_envelope(e.rollup);
         auto statement = Evidence::statement_of(e.rollup);
         statement["predicate"]["result"] = "PASSED";
         write_file(e.rollup, attestation::to_json(attestation::sign_envelope(envelope.payload_type, statement.dump(),
                                                                              stranger))
                                  .dump());
       },
       [](Evidence& e) { return e.verify(e.rollup); }, 1, "INVALID: wrong key: no signature verifies with key"},
      {"PayloadTypeSwapped", {},
       [](Evidence& e) {
         auto file = e.runs / "r1" / "attestation.dsse.json";
         auto envelope = nlohmann::json::parse(read_file(file));
         envelope["payloadType"] = "application/json";
         write_file(file, envelope.dump());
       },
       [](Evidence& e) {
         return e.firedrill({"verify", (e.runs / "r1" / "attestation.dsse.json").string(), "--key",
                             e.keys.public_key.string()});
       },
       1, "INVALID: bad signature: no signature verifies with key"},
      {"UrlSafeBase64VerifiedByFiredrill", make_gate_summary, [](Evidence& e) { reencode(e.vsa, true); },
       [](Evidence& e) {
         return e.firedrill({"verify", e.vsa.string(), "--key", e.keys.public_key.string(), "--artifacts",
                             e.scratch.path().string(), "--require-result", "PASSED"});
       },
       0, "valid Verification Summary (PASSED) over 2 inputs"},
      {"UrlSafeBase64VerifiedByRequireVsa", make_gate_summary, [](Evidence& e) { reencode(e.vsa, true); },
       [](Evidence& e) { return e.require_vsa(); }, 0, "require-vsa: the release gate PASSED over 2 runs"},
  };
  return cases;
}

class TamperCorpus : public ::testing::TestWithParam<TamperCase> {};

TEST_P(TamperCorpus, IsJudgedWithTheExpectedExitCodeAndMessage) {
  const auto& test = GetParam();
  Evidence evidence;
  auto intact = evidence.chain_verify();
  ASSERT_EQ(intact.exit_code, 0) << "before tampering: " << intact.output;
  if (test.before) test.before(evidence);
  test.tamper(evidence);
  auto outcome = test.judge(evidence);
  EXPECT_EQ(outcome.exit_code, test.exit_code) << outcome.output;
  EXPECT_NE(outcome.output.find(test.message), std::string::npos) << outcome.output;
  EXPECT_EQ(outcome.output.find("terminate called"), std::string::npos) << outcome.output;
}

INSTANTIATE_TEST_SUITE_P(Classes, TamperCorpus, ::testing::ValuesIn(corpus()),
                         [](const ::testing::TestParamInfo<TamperCase>& case_info) { return case_info.param.name; });

// The two reproductions, as a new user would try them.
TEST(TamperReproductions, AFailedRunDatedOutOfThePeriodIsNamedNotDropped) {
  Evidence evidence;
  edit_report(evidence, "r3", [](nlohmann::json& r) { r["started_at"] = "2000-01-01T00:00:00Z"; });
  auto attested = evidence.attest({evidence.runs.string()});
  EXPECT_EQ(attested.exit_code, 1) << attested.output;
  EXPECT_NE(attested.output.find("runs/r3/attestation.dsse.json"), std::string::npos) << attested.output;
  EXPECT_EQ(attested.output.find("result: PASSED"), std::string::npos) << attested.output;
  EXPECT_FALSE(fs::exists(evidence.rollup));
}

TEST(TamperReproductions, TheGatesOwnSignedSummaryVerifiesAndAHandWrittenOneDoesNot) {
  Evidence evidence;
  make_gate_summary(evidence);
  auto verified = evidence.firedrill({"verify", evidence.vsa.string(), "--key", evidence.keys.public_key.string(),
                                      "--artifacts", evidence.scratch.path().string(), "--require-result", "PASSED"});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_EQ(evidence.require_vsa().exit_code, 0);

  // A failing gate's summary is valid, and not PASSED.
  auto failing = evidence.firedrill({"gate", evidence.runs.string(), "--sign-key", evidence.keys.private_key.string(),
                                     "--vsa", evidence.vsa.string()});
  EXPECT_EQ(failing.exit_code, 1) << failing.output;
  auto not_passed = evidence.firedrill({"verify", evidence.vsa.string(), "--key", evidence.keys.public_key.string(),
                                        "--require-result", "PASSED"});
  EXPECT_EQ(not_passed.exit_code, 1) << not_passed.output;
  EXPECT_NE(not_passed.output.find("valid, but its result is FAILED, not the required PASSED"), std::string::npos)
      << not_passed.output;
}

TEST(TamperReproductions, TheGateJudgesOnlyVerifiedRunsAndRefusesUnsignedOnesUnlessAllowed) {
  Evidence evidence;
  auto unsigned_run = evidence.runs / "u1";
  fs::create_directories(unsigned_run);
  attestation::testing::write_run_directory(unsigned_run);
  auto refused = evidence.firedrill({"gate", (evidence.runs / "r1").string(), unsigned_run.string(), "--key",
                                     evidence.keys.public_key.string(), "--vsa", evidence.vsa.string()});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("u1 is not signed"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(evidence.vsa));

  auto allowed = evidence.firedrill({"gate", (evidence.runs / "r1").string(), unsigned_run.string(), "--sign-key",
                                     evidence.keys.private_key.string(), "--allow-unsigned", "--vsa",
                                     evidence.vsa.string()});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  auto predicate = Evidence::statement_of(evidence.vsa)["predicate"];
  EXPECT_EQ(predicate["unsignedInputs"], nlohmann::json::array({"runs/u1/report.json"}));
  EXPECT_EQ(predicate["trustedKeys"][0], evidence.key.key_id());

  // A signed run whose report was edited to pass is not judged at all.
  edit_report(evidence, "r3", [](nlohmann::json& r) { r["verdict"] = "pass"; });
  auto tampered = evidence.firedrill({"gate", evidence.runs.string(), "--key", evidence.keys.public_key.string(),
                                      "--vsa", evidence.vsa.string()});
  EXPECT_EQ(tampered.exit_code, 1) << tampered.output;
  EXPECT_NE(tampered.output.find("r3/attestation.dsse.json does not verify: subject report.json changed"),
            std::string::npos)
      << tampered.output;
}

}  // namespace
}  // namespace firedrill
