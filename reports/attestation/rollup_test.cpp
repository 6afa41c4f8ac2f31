#include "reports/attestation/rollup.hpp"

#include <gtest/gtest.h>

#include "reports/artifacts.hpp"
#include "reports/attestation/test_support.hpp"

namespace firedrill::attestation {
namespace {

using testing::ScratchDirectory;
using testing::read_file;
using testing::write_file;
using testing::write_signed_run;

std::string thrown_message(const std::string& period) {
  try {
    parse_period(period);
  } catch (const RollupInputError& error) {
    return error.what();
  }
  return "(nothing thrown)";
}

TEST(RollupPeriod, MonthQuarterYearAndRange) {
  auto month = parse_period("2026-11");
  EXPECT_EQ(format_timestamp(month.from), "2026-11-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(month.to), "2026-12-01T00:00:00Z");
  auto december = parse_period("2026-12");
  EXPECT_EQ(format_timestamp(december.to), "2027-01-01T00:00:00Z");
  auto quarter = parse_period("2026-Q4");
  EXPECT_EQ(format_timestamp(quarter.from), "2026-10-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(quarter.to), "2027-01-01T00:00:00Z");
  auto first = parse_period("2026-q1");
  EXPECT_EQ(format_timestamp(first.from), "2026-01-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(first.to), "2026-04-01T00:00:00Z");
  auto year = parse_period("2026");
  EXPECT_EQ(format_timestamp(year.from), "2026-01-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(year.to), "2027-01-01T00:00:00Z");
  auto range = parse_period("2026-02-10..2026-02-28");
  EXPECT_EQ(format_timestamp(range.from), "2026-02-10T00:00:00Z");
  EXPECT_EQ(format_timestamp(range.to), "2026-03-01T00:00:00Z") << "the last day is included";
  EXPECT_EQ(range.label, "2026-02-10..2026-02-28");
}

TEST(RollupPeriod, BoundsAreHalfOpen) {
  auto month = parse_period("2026-11");
  EXPECT_TRUE(month.contains(*parse_timestamp("2026-11-01T00:00:00Z")));
  EXPECT_TRUE(month.contains(*parse_timestamp("2026-11-30T23:59:59.999999Z")));
  EXPECT_FALSE(month.contains(*parse_timestamp("2026-12-01T00:00:00Z")));
  EXPECT_FALSE(month.contains(*parse_timestamp("2026-10-31T23:59:59Z")));
  EXPECT_TRUE(month.contains(*parse_timestamp("2026-12-01T00:30:00+01:00"))) << "an offset is converted to UTC";
}

TEST(RollupPeriod, BadInputSaysWhatIsAccepted) {
  EXPECT_EQ(thrown_message("November"),
            "period 'November' not understood: expected YYYY-MM (a month), YYYY-Qn (a quarter), YYYY (a year) or "
            "YYYY-MM-DD..YYYY-MM-DD (days, both included)");
  EXPECT_EQ(thrown_message("2026-13"), "period '2026-13': month 13 is not 01..12");
  EXPECT_EQ(thrown_message("2026-00"), "period '2026-00': month 00 is not 01..12");
  EXPECT_NE(thrown_message("2026-Q5").find("not understood"), std::string::npos);
  EXPECT_EQ(thrown_message("2026-02-30..2026-03-01"), "period '2026-02-30..2026-03-01': 2026-02-30 is not a day of the calendar");
  EXPECT_EQ(thrown_message("2026-12-01..2026-11-01"), "period '2026-12-01..2026-11-01': ends before it starts");
  EXPECT_NE(thrown_message("2026-11..2026-12").find("'2026-11' is not a day YYYY-MM-DD"), std::string::npos);
  EXPECT_NE(thrown_message("").find("not understood"), std::string::npos);
}

TEST(RollupTimestamps, ParsesRfc3339AndRefusesTheRest) {
  EXPECT_EQ(*parse_timestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*parse_timestamp("2026-11-25T13:32:19.604722Z"), *parse_timestamp("2026-11-25T13:32:19Z"));
  EXPECT_EQ(*parse_timestamp("2026-11-25T14:32:19+01:00"), *parse_timestamp("2026-11-25T13:32:19Z"));
  EXPECT_FALSE(parse_timestamp("2026-11-25"));
  EXPECT_FALSE(parse_timestamp("2026-11-25T25:00:00Z"));
  EXPECT_FALSE(parse_timestamp("yesterday"));
}

TEST(RollupMarkdown, SummaryGoesBesideTheRollup) {
  EXPECT_EQ(markdown_path("out/rollup.dsse.json"), "out/rollup.dsse.md");
  EXPECT_EQ(markdown_path("rollup"), "rollup.md");
  EXPECT_EQ(markdown_path("rollup.md"), "rollup.md.md");
}

TEST(RollupGlob, MatchesStars) {
  EXPECT_TRUE(glob_match("pg-*", "pg-primary-failover"));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("*-restore", "pitr-restore"));
  EXPECT_TRUE(glob_match("exact", "exact"));
  EXPECT_FALSE(glob_match("pg-*", "redis-failover"));
  EXPECT_FALSE(glob_match("exact", "exactly"));
}

RunRecord record(const std::string& run_id, const std::string& scenario, const std::string& started_at,
                 const std::string& result, double rto, double rpo = 0.0) {
  RunRecord run;
  run.run_id = run_id;
  run.scenario = scenario;
  run.started_at = started_at;
  run.started = *parse_timestamp(started_at);
  run.result = result;
  run.attestation = "runs/" + run_id + "/attestation.dsse.json";
  run.predicate = {{"run_id", run_id},
                   {"result", result},
                   {"started_at", started_at},
                   {"measured", {{"rto_seconds", rto}, {"rpo_seconds", rpo}}},
                   {"targets", {{"overall", {{"rto_seconds", 30.0}, {"rpo_seconds", 0.0}}}}},
                   {"components",
                    {{"db", {{"rto", {{"measured_seconds", rto / 2}, {"target_seconds", 15.0}}},
                             {"rpo", {{"measured_seconds", rpo}, {"target_seconds", 300.0}}}}}}}};
  return run;
}

TEST(RollupAggregation, CountsDistributionsTargetsAndLastRun) {
  std::vector<RunRecord> runs{
      record("r1", "pg-failover", "2026-11-02T10:00:00Z", "PASSED", 10),
      record("r3", "pg-failover", "2026-11-20T10:00:00Z", "FAILED", 40, 2),
      record("r2", "pg-failover", "2026-11-10T10:00:00Z", "PASSED", 20),
      record("r4", "redis-restart", "2026-11-05T10:00:00Z", "WARNED", 1),
  };
  auto scenarios = aggregate_scenarios(runs);
  ASSERT_EQ(scenarios.size(), 2u);
  const auto& pg = scenarios["pg-failover"];
  EXPECT_EQ(pg["runs"], 3);
  EXPECT_EQ(pg["passed"], 2);
  EXPECT_EQ(pg["failed"], 1);
  EXPECT_EQ(pg["warned"], 0);
  EXPECT_EQ(pg["rto_seconds"]["min"], 10.0);
  EXPECT_EQ(pg["rto_seconds"]["median"], 20.0);
  EXPECT_EQ(pg["rto_seconds"]["p95"], 40.0);
  EXPECT_EQ(pg["rto_seconds"]["max"], 40.0);
  EXPECT_EQ(pg["rto_seconds"]["target"], 30.0);
  EXPECT_EQ(pg["rto_seconds"]["met"], false) << "the worst run missed the 30 s target";
  EXPECT_EQ(pg["rpo_seconds"]["max"], 2.0);
  EXPECT_EQ(pg["rpo_seconds"]["met"], false);
  EXPECT_EQ(pg["components"]["db"]["rto_seconds"]["max"], 20.0);
  EXPECT_EQ(pg["components"]["db"]["rto_seconds"]["met"], false);
  EXPECT_EQ(pg["components"]["db"]["rpo_seconds"]["met"], true);
  EXPECT_EQ(pg["last_run"]["run_id"], "r3") << "the latest by start, not by order given";
  EXPECT_EQ(pg["last_run"]["result"], "FAILED");
  EXPECT_EQ(scenarios["redis-restart"]["warned"], 1);
  EXPECT_EQ(scenarios["redis-restart"]["rto_seconds"]["met"], true);
}

nlohmann::json policy_of(nlohmann::json rules) {
  return {{"file", "policy.yaml"}, {"sha256", "00"}, {"rules", std::move(rules)}};
}

nlohmann::json rule(const std::string& name, const std::string& scenario, int min_runs, int min_passed, bool latest,
                    const std::string& per = "period") {
  return {{"name", name}, {"scenario", scenario}, {"min_runs", min_runs}, {"min_passed", min_passed},
          {"latest_must_pass", latest}, {"per", per}};
}

TEST(RollupPolicy, EachRuleHasAClearResult) {
  std::vector<RunRecord> runs{
      record("r1", "pg-failover", "2026-10-02T10:00:00Z", "PASSED", 10),
      record("r2", "pg-failover", "2026-11-10T10:00:00Z", "PASSED", 20),
      record("r3", "pg-failover", "2026-12-20T10:00:00Z", "FAILED", 40),
      record("r4", "backup-verify", "2026-10-05T10:00:00Z", "PASSED", 1),
      record("r5", "backup-verify", "2026-12-05T10:00:00Z", "PASSED", 1),
  };
  auto quarter = parse_period("2026-Q4");
  auto evaluated = evaluate_policy(policy_of({rule("failover often", "pg-*", 3, 2, false),
                                              rule("failover latest", "pg-failover", 1, 0, true),
                                              rule("backups monthly", "backup-verify", 1, 1, false, "month"),
                                              rule("full loss", "full-environment-loss", 1, 1, false)}),
                                   runs, quarter);
  EXPECT_EQ(evaluated["result"], "FAILED");
  const auto& rules = evaluated["rules"];
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_EQ(rules[0]["result"], "PASSED");
  EXPECT_EQ(rules[0]["requirement"], "at least 3 runs, at least 2 passed in the period");
  EXPECT_EQ(rules[1]["result"], "FAILED");
  EXPECT_EQ(rules[1]["windows"][0]["reasons"][0], "the latest run r3 FAILED");
  EXPECT_EQ(rules[2]["result"], "FAILED");
  ASSERT_EQ(rules[2]["windows"].size(), 3u) << "one window per month of the quarter";
  EXPECT_EQ(rules[2]["windows"][0]["result"], "PASSED");
  EXPECT_EQ(rules[2]["windows"][1]["from"], "2026-11-01T00:00:00Z");
  EXPECT_EQ(rules[2]["windows"][1]["result"], "FAILED");
  EXPECT_EQ(rules[2]["windows"][1]["reasons"][0], "ran 0 times, at least 1 required");
  EXPECT_EQ(rules[2]["windows"][2]["result"], "PASSED");
  EXPECT_EQ(rules[3]["result"], "FAILED");
  EXPECT_EQ(rules[3]["windows"][0]["reasons"], nlohmann::json({"ran 0 times, at least 1 required"}))
      << "nothing ran: the other reasons would only repeat it";

  auto november = parse_period("2026-11");
  auto passing = evaluate_policy(policy_of({rule("failover latest", "pg-failover", 1, 1, true)}), runs, november);
  EXPECT_EQ(passing["result"], "PASSED");
  EXPECT_EQ(passing["rules"][0]["windows"][0]["latest"]["run_id"], "r2");
}

TEST(RollupPolicy, MonthWindowsOfARangeFollowTheCalendar) {
  auto range = parse_period("2026-10-15..2026-11-14");
  std::vector<RunRecord> runs{record("r1", "b", "2026-10-20T10:00:00Z", "PASSED", 1)};
  auto evaluated = evaluate_policy(policy_of({rule("monthly", "b", 1, 0, false, "month")}), runs, range);
  const auto& windows = evaluated["rules"][0]["windows"];
  ASSERT_EQ(windows.size(), 2u);
  EXPECT_EQ(windows[0]["from"], "2026-10-15T00:00:00Z");
  EXPECT_EQ(windows[0]["to"], "2026-11-01T00:00:00Z");
  EXPECT_EQ(windows[1]["to"], "2026-11-15T00:00:00Z");
  EXPECT_EQ(windows[1]["result"], "FAILED");
}

TEST(RollupPolicy, LoadsTheExampleAndRejectsUnknownKeys) {
  auto policy = load_policy(FIREDRILL_SOURCE_DIR "/policies/drills.yaml");
  ASSERT_FALSE(policy["rules"].empty());
  EXPECT_EQ(policy["sha256"], sha256_file(FIREDRILL_SOURCE_DIR "/policies/drills.yaml"));

  ScratchDirectory dir;
  write_file(dir.path() / "p.yaml", "version: 1\nrules:\n  - name: x\n    scenario: a\n    min_run: 2\n");
  try {
    load_policy(dir.path() / "p.yaml");
    FAIL() << "a misspelt key must be refused";
  } catch (const RollupInputError& error) {
    EXPECT_EQ(std::string(error.what()),
              (dir.path() / "p.yaml").string() +
                  ":5:5: unknown key 'min_run' (a rule has name, scenario, min_runs, min_passed, latest_must_pass, per)");
  }
  write_file(dir.path() / "p.yaml", "version: 1\nrules:\n  - name: x\n    scenario: a\n    per: week\n");
  EXPECT_THROW(load_policy(dir.path() / "p.yaml"), RollupInputError);
  write_file(dir.path() / "p.yaml", "version: 2\nrules: []\n");
  EXPECT_THROW(load_policy(dir.path() / "p.yaml"), RollupInputError);
  write_file(dir.path() / "p.yaml", "version: 1\nrules:\n  - name: x\n    scenario: a\n    min_runs: -1\n");
  EXPECT_THROW(load_policy(dir.path() / "p.yaml"), RollupInputError);
}

// Every malformed controls file is refused naming the file and line, never with the YAML
// library's own error.
TEST(RollupControls, AMalformedEntryIsRefusedNamingTheFileAndLine) {
  ScratchDirectory dir;
  const auto file = dir.path() / "c.yaml";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"version: 1\ncontrols:\n  - id: CC7.5\n    scenarios: [quickstart]\n", ":3:5: a control needs a 'framework' and an 'id'"},
      {"version: 1\ncontrols:\n  - framework: SOC2\n    scenarios: [quickstart]\n", ":3:5: a control needs a 'framework' and an 'id'"},
      {"version: 1\ncontrols:\n  - framework: [SOC2]\n    id: CC7.5\n    tags: [dr]\n", ":3:5: a control needs a 'framework' and an 'id'"},
      {"version: 1\ncontrols:\n  - framework: SOC2\n    id: CC7.5\n", ":3:5: control SOC2 CC7.5 names no scenarios and no tags"},
      {"version: 1\ncontrols:\n  - framework: SOC2\n    id: CC7.5\n    title: {a: b}\n    tags: [dr]\n", ":5:12: 'title' is text"},
      {"version: 1\ncontrols:\n  - framework: SOC2\n    id: CC7.5\n    tags: {a: b}\n", ":5:11: 'tags'"},
      {"version: 1\ncontrols: {a: b}\n", ":1:1: expected 'controls' to be a list"},
      {"version: 1\ncontrols:\n  - 7\n", ":3:5: a control is a mapping"},
  };
  for (const auto& [text, expected] : cases) {
    write_file(file, text);
    try {
      load_controls(file);
      ADD_FAILURE() << "accepted:\n" << text;
    } catch (const RollupInputError& error) {
      EXPECT_NE(std::string(error.what()).find(file.string() + expected), std::string::npos) << error.what();
    } catch (const std::exception& error) {
      ADD_FAILURE() << "not a clear refusal: " << error.what() << "\n" << text;
    }
  }
}

TEST(RollupControls, MapsScenariosAndStatuses) {
  auto controls = load_controls(FIREDRILL_SOURCE_DIR "/policies/controls.yaml");
  ASSERT_FALSE(controls["controls"].empty());

  nlohmann::json mapping = {{"file", "c.yaml"},
                            {"controls",
                             {{{"framework", "SOC 2"}, {"id", "A1.3"}, {"title", "recovery"},
                               {"scenarios", {"pg-*"}}, {"tags", nlohmann::json::array()}},
                              {{"framework", "ISO/IEC 27001:2022"}, {"id", "A.8.13"}, {"title", "backup"},
                               {"scenarios", {"backup-verify"}}, {"tags", nlohmann::json::array()}},
                              {{"framework", "DORA"}, {"id", "Art. 11(6)"}, {"title", "tested"},
                               {"scenarios", nlohmann::json::array()}, {"tags", {"full-loss"}}}}}};
  std::vector<RunRecord> runs{record("r1", "pg-failover", "2026-11-02T10:00:00Z", "PASSED", 10),
                              record("r2", "pg-restore", "2026-11-03T10:00:00Z", "FAILED", 10),
                              record("r3", "backup-verify", "2026-11-04T10:00:00Z", "FAILED", 1)};
  auto mapped = map_controls(mapping, runs)["controls"];
  EXPECT_EQ(mapped[0]["status"], "evidenced");
  ASSERT_EQ(mapped[0]["evidence"].size(), 2u);
  EXPECT_EQ(mapped[0]["evidence"][0]["scenario"], "pg-failover");
  EXPECT_EQ(mapped[0]["evidence"][0]["runs"], nlohmann::json({"r1"}));
  EXPECT_EQ(mapped[1]["status"], "failed");
  EXPECT_EQ(mapped[2]["status"], "missing");
  runs[2].tags = {"full-loss"};
  EXPECT_EQ(map_controls(mapping, runs)["controls"][2]["status"], "failed") << "matched by tag";
}

class RollupOverRuns : public ::testing::Test {
 protected:
  ScratchDirectory scratch;
  SigningKey key = SigningKey::generate(KeyAlgorithm::ed25519);
  std::filesystem::path runs = scratch.path() / "runs";

  void SetUp() override {
    std::filesystem::create_directories(runs);
    write_signed_run(runs, "r1", "pg-failover", "2026-11-02T10:00:00Z", true, 2.5, key);
    write_signed_run(runs, "r2", "pg-failover", "2026-11-12T10:00:00Z", true, 3.0, key);
    write_signed_run(runs, "r3", "backup-verify", "2026-11-22T10:00:00Z", false, 1.0, key);
    write_signed_run(runs, "r0", "pg-failover", "2026-10-31T23:59:59Z", true, 1.0, key);
  }

  Envelope signed_rollup(const RunCollection& collection) {
    RollupInputs inputs;
    inputs.period = parse_period("2026-11");
    inputs.signer_key_id = key.key_id();
    return sign_envelope(in_toto_payload_type, rollup_statement(collection, inputs).dump(), key);
  }
};

TEST_F(RollupOverRuns, IncludesTheVerifiedRunsOfThePeriodOnly) {
  auto collection = collect_runs({runs}, parse_period("2026-11"), {key.public_key()});
  EXPECT_EQ(collection.root, std::filesystem::weakly_canonical(scratch.path()));
  ASSERT_EQ(collection.included.size(), 3u);
  EXPECT_EQ(collection.included[0].run_id, "r1");
  EXPECT_EQ(collection.included[0].attestation, "runs/r1/attestation.dsse.json");
  EXPECT_EQ(collection.included[2].result, "FAILED");
  EXPECT_EQ(collection.outside_period, 1u);
  EXPECT_TRUE(collection.excluded.empty());
  ASSERT_EQ(collection.chains.size(), 1u);
  EXPECT_TRUE(collection.chains[0].valid) << collection.chains[0].reason;

  auto envelope = signed_rollup(collection);
  auto verification = verify_rollup(envelope, {key.public_key()}, scratch.path(), true);
  EXPECT_TRUE(verification.statement.valid) << verification.statement.reason;
  EXPECT_EQ(verification.statement.subjects_checked, 3u);
  EXPECT_EQ(verification.runs_verified, 3u);
  const auto& predicate = verification.statement.statement["predicate"];
  EXPECT_EQ(predicate["result"], "PASSED");
  EXPECT_EQ(predicate["totals"]["failed"], 1);
  EXPECT_EQ(predicate["scenarios"]["pg-failover"]["runs"], 2);
}

TEST_F(RollupOverRuns, ExcludesARunSignedByAnUntrustedKeyOrTampered) {
  auto stranger = SigningKey::generate(KeyAlgorithm::ecdsa_p256);
  write_signed_run(runs, "r4", "pg-failover", "2026-11-15T10:00:00Z", true, 2.0, stranger);
  auto r2 = runs / "r2" / "attestation.dsse.json";
  auto envelope = nlohmann::json::parse(read_file(r2));
  auto statement = nlohmann::json::parse(*base64_decode(envelope["payload"].get<std::string>()));
  statement["predicate"]["result"] = "PASSED";
  statement["predicate"]["measured"]["rto_seconds"] = 0.1;
  envelope["payload"] = base64_encode(statement.dump());
  write_file(r2, envelope.dump());

  auto collection = collect_runs({runs}, parse_period("2026-11"), {key.public_key()});
  EXPECT_EQ(collection.included.size(), 2u);
  ASSERT_EQ(collection.excluded.size(), 2u);
  EXPECT_EQ(collection.excluded[0].attestation, "runs/r2/attestation.dsse.json");
  EXPECT_NE(collection.excluded[0].reason.find("signature"), std::string::npos) << collection.excluded[0].reason;
  EXPECT_EQ(collection.excluded[1].run_id, "r4");
  EXPECT_FALSE(collection.chains[0].valid) << "the chain notices r2 changed";
  EXPECT_EQ(rollup_statement(collection, {parse_period("2026-11"), {}, {}, {}, "", "", ""})["predicate"]["result"],
            "WARNED");
}

TEST_F(RollupOverRuns, NamesRunsOfSeveralDirectoriesFromTheirCommonParent) {
  auto staging = scratch.path() / "staging" / "runs";
  std::filesystem::create_directories(staging);
  write_signed_run(staging, "s1", "pg-failover", "2026-11-03T10:00:00Z", true, 2.0, key);
  auto collection = collect_runs({runs, staging}, parse_period("2026-11"), {key.public_key()});
  EXPECT_EQ(collection.root, std::filesystem::weakly_canonical(scratch.path()));
  ASSERT_EQ(collection.included.size(), 4u);
  EXPECT_EQ(collection.included[1].attestation, "staging/runs/s1/attestation.dsse.json");
  ASSERT_EQ(collection.chains.size(), 2u);
  EXPECT_EQ(collection.chains[1].directory, "staging/runs");
  auto verification = verify_rollup(signed_rollup(collection), {key.public_key()}, scratch.path(), true);
  EXPECT_TRUE(verification.statement.valid) << verification.statement.reason;
  EXPECT_EQ(verification.runs_verified, 4u);
  EXPECT_THROW(collect_runs({scratch.path() / "nowhere"}, parse_period("2026-11"), {key.public_key()}),
               RollupInputError);
}

TEST_F(RollupOverRuns, ExcludesARunMissingFromTheChain) {
  std::filesystem::create_directories(runs / "r5");
  testing::write_run_directory(runs / "r5");
  auto report = nlohmann::json::parse(read_file(runs / "r5" / "report.json"));
  report["started_at"] = "2026-11-16T00:00:00Z";
  write_file(runs / "r5" / "report.json", report.dump());
  sign_run_directory(runs / "r5", key);
  auto collection = collect_runs({runs}, parse_period("2026-11"), {key.public_key()});
  ASSERT_EQ(collection.excluded.size(), 1u);
  EXPECT_EQ(collection.excluded[0].reason, "not in the evidence chain runs/chain.jsonl");
}

TEST_F(RollupOverRuns, VerificationFindsAChangedIncludedAttestation) {
  auto collection = collect_runs({runs}, parse_period("2026-11"), {key.public_key()});
  auto envelope = signed_rollup(collection);
  auto r3 = runs / "r3" / "attestation.dsse.json";
  write_file(r3, read_file(r3) + " ");
  auto shallow = verify_rollup(envelope, {key.public_key()}, scratch.path(), false);
  EXPECT_FALSE(shallow.statement.valid);
  EXPECT_NE(shallow.statement.reason.find("subject runs/r3/attestation.dsse.json changed"), std::string::npos)
      << shallow.statement.reason;

  write_file(r3, read_file(r3).substr(0, read_file(r3).size() - 1));
  write_file(runs / "r1" / "acks.jsonl", "{}\n");
  auto deep = verify_rollup(envelope, {key.public_key()}, scratch.path(), true);
  EXPECT_FALSE(deep.statement.valid);
  EXPECT_EQ(deep.statement.reason.rfind("included run runs/r1/attestation.dsse.json: subject acks.jsonl changed", 0), 0u)
      << deep.statement.reason;
  EXPECT_TRUE(verify_rollup(envelope, {key.public_key()}, scratch.path(), false).statement.valid)
      << "without --deep the runs' own files are not read";
}

TEST_F(RollupOverRuns, AFailedRunWhoseReportDateWasEditedIsListedNeverOutsideThePeriod) {
  // The unsigned report.json says 2000: the run's signature no longer holds, so its date is
  // unknown and nothing about it may be decided from that report.
  auto report = nlohmann::json::parse(read_file(runs / "r3" / "report.json"));
  report["started_at"] = "2000-01-01T00:00:00Z";
  write_file(runs / "r3" / "report.json", report.dump(2));

  auto collection = collect_runs({runs}, parse_period("2026-11"), {key.public_key()});
  EXPECT_EQ(collection.outside_period, 1u) << "only r0, whose signed start is in October";
  ASSERT_EQ(collection.excluded.size(), 1u);
  EXPECT_EQ(collection.excluded[0].attestation, "runs/r3/attestation.dsse.json");
  EXPECT_EQ(collection.excluded[0].run_id, "r3");
  EXPECT_FALSE(collection.excluded[0].period_known);
  EXPECT_NE(collection.excluded[0].reason.find("subject report.json changed"), std::string::npos)
      << collection.excluded[0].reason;
  auto predicate = rollup_statement(collection, {parse_period("2026-11"), {}, {}, {}, "", "", ""})["predicate"];
  EXPECT_EQ(predicate["excluded"][0]["period"], "unknown");
  EXPECT_NE(predicate["result"], "PASSED");
}

TEST_F(RollupOverRuns, EachRunCountsOnceWhateverDirectoriesAreNamed) {
  auto again = runs / ".." / "runs";
  auto copy = scratch.path() / "copy";
  std::filesystem::copy(runs, copy, std::filesystem::copy_options::recursive);
  auto collection = collect_runs({runs, runs, again, copy}, parse_period("2026-11"), {key.public_key()});
  EXPECT_EQ(collection.included.size(), 3u);
  EXPECT_EQ(collection.duplicates, 3u) << "the copy's three attestations are the same bytes";
  EXPECT_EQ(collection.chains.size(), 2u) << "runs once, copy once";
  EXPECT_EQ(aggregate_scenarios(collection.included)["pg-failover"]["runs"], 2);

  // Another attestation claiming run r1 (signed again, so other bytes) is not a second r1.
  auto other = scratch.path() / "other";
  std::filesystem::create_directories(other);
  write_signed_run(other, "r1", "pg-failover", "2026-11-02T10:00:00Z", false, 9.0, key);
  collection = collect_runs({runs, other}, parse_period("2026-11"), {key.public_key()});
  EXPECT_EQ(collection.included.size(), 3u);
  ASSERT_EQ(collection.excluded.size(), 1u);
  EXPECT_EQ(collection.excluded[0].reason,
            "run r1 is already included from runs/r1/attestation.dsse.json with a different attestation");
}

TEST_F(RollupOverRuns, TheRollupSignsTheChainHeadAndCatchesTruncationBehindIt) {
  auto collection = collect_runs({runs}, parse_period("2026-11"), {key.public_key()});
  auto envelope = signed_rollup(collection);
  auto statement = nlohmann::json::parse(*base64_decode(envelope.payload));
  EXPECT_EQ(statement["predicate"]["chains"][0]["head"]["seq"], 4);
  auto verified = verify_rollup(envelope, {key.public_key()}, scratch.path(), false);
  EXPECT_TRUE(verified.statement.valid) << verified.statement.reason;
  EXPECT_EQ(verified.chains_checked, 1u);
  auto head = statement["predicate"]["chains"][0]["head"]["hash"].get<std::string>();
  EXPECT_NE(rollup_markdown(statement).find("- `runs`: intact, 4 entries; signed head: entry 4 `" + head + "`"),
            std::string::npos)
      << rollup_markdown(statement);

  // The last run (r0, October) and its chain line removed together: the chain alone cannot
  // tell, the roll-up that signed entry 4 can.
  auto chain = read_file(runs / "chain.jsonl");
  chain.erase(chain.rfind('\n', chain.size() - 2) + 1);
  write_file(runs / "chain.jsonl", chain);
  std::filesystem::remove_all(runs / "r0");
  EXPECT_TRUE(verify_chain(runs, {key.public_key()}).valid);
  auto truncated = verify_rollup(envelope, {key.public_key()}, scratch.path(), false);
  EXPECT_FALSE(truncated.statement.valid);
  EXPECT_EQ(truncated.statement.reason,
            "chain runs: the chain has 3 entries, fewer than the 4 it had when it was signed (truncated)");
}

TEST_F(RollupOverRuns, ARunAttestationIsNotARollup) {
  auto run_envelope = read_envelope(runs / "r1" / "attestation.dsse.json");
  auto verification = verify_rollup(run_envelope, {key.public_key()}, std::nullopt, false);
  EXPECT_FALSE(verification.statement.valid);
  EXPECT_NE(verification.statement.reason.find("expected 'https://firedrill.dev/attestation/rollup/v1'"),
            std::string::npos);
}

TEST_F(RollupOverRuns, MarkdownSaysWhatFailedAndWhatIsMissing) {
  auto collection = collect_runs({runs}, parse_period("2026-11"), {key.public_key()});
  RollupInputs inputs;
  inputs.period = parse_period("2026-11");
  inputs.signer_key_id = key.key_id();
  ScratchDirectory dir;
  write_file(dir.path() / "policy.yaml",
             "version: 1\nrules:\n  - name: backups\n    scenario: backup-verify\n    min_passed: 1\n"
             "  - name: full loss\n    scenario: full-environment-loss\n");
  inputs.policy_file = dir.path() / "policy.yaml";
  inputs.controls_file = FIREDRILL_SOURCE_DIR "/policies/controls.yaml";
  auto statement = rollup_statement(collection, inputs);
  EXPECT_EQ(statement["predicate"]["result"], "FAILED");
  auto markdown = rollup_markdown(statement);
  EXPECT_NE(markdown.find("# Drill roll-up 2026-11: FAILED"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| backups | at least 1 run, at least 1 passed in the period `backup-verify` | FAILED | "
                          "2026-11-01: 0 passed, at least 1 required |"),
            std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("| full loss | at least 1 run in the period `full-environment-loss` | FAILED | "
                          "2026-11-01: ran 0 times, at least 1 required |"),
            std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("| pg-failover | 2 | 2 | 0 | 0 | 2.500 s / 2.750 s / 3.000 s / 3.000 s | 3.030 s |"),
            std::string::npos)
      << markdown;
  statement["predicate"]["scenarios"]["pg-failover"]["rto_seconds"]["met"] = false;
  EXPECT_NE(rollup_markdown(statement).find("3.000 s / 3.000 s | 3.030 s **missed** |"), std::string::npos);
  EXPECT_NE(markdown.find("| SOC 2 | CC7.5"), std::string::npos) << markdown;
}

}  // namespace
}  // namespace firedrill::attestation
