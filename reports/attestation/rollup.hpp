#pragma once
// Period roll-ups: every signed run of a period, from one or more runs directories, verified and
// summarised into one signed in-toto Statement (predicate rollup/v1, schema
// reports/attestation/rollup.schema.json), judged against a policy of required drills and mapped
// to compliance controls, plus a Markdown summary for people.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/attestation/keys.hpp"
#include "reports/attestation/statement.hpp"

namespace firedrill::attestation {

inline constexpr std::string_view rollup_predicate_type = "https://firedrill.dev/attestation/rollup/v1";

/// A period, policy or controls file that cannot be used; the message says what was expected.
/// The CLI maps it to exit 2.
class RollupInputError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A half-open interval of UTC time [from, to), in seconds since the epoch.
struct Period {
  std::string label;  ///< as given: "2026-11", "2026-Q4", "2026", "2026-10-01..2026-12-31"
  std::int64_t from = 0;
  std::int64_t to = 0;
  bool contains(std::int64_t seconds) const { return seconds >= from && seconds < to; }
};

/// Parses a month "2026-11", a quarter "2026-Q4", a year "2026" or a range of days
/// "2026-10-01..2026-12-31" (both days included). Throws RollupInputError saying which forms
/// are accepted.
Period parse_period(std::string_view text);

/// Seconds since the epoch of an RFC 3339 timestamp with a Z or ±hh:mm offset (fraction
/// ignored); nullopt when text is not one.
std::optional<std::int64_t> parse_timestamp(std::string_view text);
/// "2026-11-01T00:00:00Z".
std::string format_timestamp(std::int64_t seconds);

/// One verified run attestation of the period.
struct RunRecord {
  std::string run_id;
  std::string scenario;
  std::vector<std::string> tags;  ///< the verified predicate's scenario.tags, when it has them
  std::string attestation;        ///< subject name: the path relative to the roll-up's root
  std::string attestation_sha256;
  std::string started_at;
  std::int64_t started = 0;
  std::string result;  ///< PASSED, WARNED or FAILED, from the verified predicate
  nlohmann::json predicate;
};

/// A run left out of the roll-up, and why. A run whose attestation does not verify has no date
/// anyone can trust, so it is listed whatever its unsigned report claims.
struct ExcludedRun {
  std::string attestation;
  std::string run_id;  ///< from the verified predicate; the run's directory name when it did not verify
  std::string reason;
  bool period_known = true;  ///< false when the signature did not verify: "period unknown"
};

/// The evidence chain of one runs directory.
struct ChainStatus {
  std::string directory;  ///< relative to the root
  bool valid = false;
  std::size_t entries = 0;
  std::string reason;
  std::size_t head_seq = 0;  ///< the chain head the roll-up signs (0: empty or unreadable)
  std::string head_hash;
};

/// What collect_runs found.
struct RunCollection {
  std::filesystem::path root;  ///< the deepest directory holding every runs directory
  std::vector<RunRecord> included;
  std::vector<ExcludedRun> excluded;
  std::vector<ChainStatus> chains;
  std::size_t outside_period = 0;
  std::size_t duplicates = 0;  ///< the same attestation found again (a directory passed twice)
};

/// Reads every run folder (one holding attestation.dsse.json) of each runs directory and keeps
/// those whose start lies in period. A run is included only when its attestation is signed by
/// one of trusted_keys, is a drill Statement whose subjects match the run's files, and is in
/// the directory's chain.jsonl with its current digest; otherwise it is excluded with the
/// reason. Every figure kept (start, run id, scenario, result, mode, tags) comes from the
/// verified predicate; a run that does not verify is excluded with period_known false, never
/// counted as outside the period. Each attestation counts once (by digest), however often its
/// directory is named; two different attestations claiming one run id keep the first. Chains
/// are verified with trusted_keys, so their runs' signed anchors are checked. Throws
/// RollupInputError when a directory does not exist.
RunCollection collect_runs(const std::vector<std::filesystem::path>& runs_dirs, const Period& period,
                           const std::vector<PublicKey>& trusted_keys);

/// Per scenario: runs, passed/failed/warned, RTO and RPO (overall and per component) as
/// {count, min, median, p95, max, target, met}, and the last run.
nlohmann::json aggregate_scenarios(const std::vector<RunRecord>& runs);

/// Reads a policy file (YAML: version: 1, rules: [{name, scenario, min_runs, min_passed,
/// latest_must_pass, per}]). Throws RollupInputError naming the file and the rule.
nlohmann::json load_policy(const std::filesystem::path& file);

/// Evaluates each rule over the runs of period: {result: PASSED|FAILED, rules: [{name, scenario,
/// requirement, result, windows: [{from, to, runs, passed, latest, result, reasons}]}]}.
nlohmann::json evaluate_policy(const nlohmann::json& policy, const std::vector<RunRecord>& runs, const Period& period);

/// Reads a control mapping file (YAML: version: 1, controls: [{framework, id, title,
/// scenarios: [name or glob], tags: [tag]}]). Throws RollupInputError naming the file.
nlohmann::json load_controls(const std::filesystem::path& file);

/// For each control: the scenarios and runs that evidence it and a status: evidenced (a matching
/// run passed), failed (matching runs, none passed) or missing (no matching run).
nlohmann::json map_controls(const nlohmann::json& controls, const std::vector<RunRecord>& runs);

/// True when name matches pattern, where `*` matches any run of characters.
bool glob_match(std::string_view pattern, std::string_view name);

/// Inputs of a roll-up besides the runs.
struct RollupInputs {
  Period period;
  std::optional<std::filesystem::path> policy_file;
  std::optional<std::filesystem::path> controls_file;
  std::vector<std::string> trusted_key_ids;
  std::string signer_key_id;  ///< empty when unsigned
  std::string generated_at;   ///< RFC 3339
  std::string firedrill_version;
};

/// The in-toto Statement of a roll-up: subjects are the included attestations, the predicate
/// rollup/v1. Its predicate.result is FAILED when the policy failed, WARNED when a run was
/// excluded or a chain is broken, PASSED otherwise.
nlohmann::json rollup_statement(const RunCollection& collection, const RollupInputs& inputs);

/// The Markdown summary of a roll-up Statement for people and auditors.
std::string rollup_markdown(const nlohmann::json& statement);

/// Where the Markdown summary of a roll-up file goes: the same path with the extension .md
/// (FILE.md.md for a roll-up itself named *.md).
std::filesystem::path markdown_path(const std::filesystem::path& rollup_file);

/// Details of a verified roll-up.
struct RollupVerification {
  VerificationResult statement;       ///< signature, types and subject digests
  std::size_t runs_verified = 0;      ///< included run attestations verified in depth
  std::size_t chains_checked = 0;     ///< chains found still holding the head the roll-up signed
};

/// Verifies a roll-up envelope: signature by one of trusted_keys, types, and — with
/// artifacts_dir — each included attestation's digest there and that each chain still holds the
/// head the roll-up signed (truncation behind a roll-up); with deep also each included
/// run's own attestation (against the same keys) and its files; an included attestation that is
/// no envelope at all makes the roll-up invalid, naming it.
RollupVerification verify_rollup(const Envelope& envelope, const std::vector<PublicKey>& trusted_keys,
                                 const std::optional<std::filesystem::path>& artifacts_dir, bool deep);

}  // namespace firedrill::attestation
