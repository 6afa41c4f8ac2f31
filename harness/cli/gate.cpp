#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "harness/cli/commands.hpp"
#include "reports/artifacts.hpp"
#include "reports/attestation/dsse.hpp"
#include "reports/attestation/keys.hpp"
#include "reports/attestation/statement.hpp"
#include "reports/gate.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

struct GateOptions {
  std::vector<std::string> reports;
  std::string baseline;
  std::string write_baseline;
  std::string tolerance = "20%";
  std::string vsa = "gate.vsa.json";
  std::string sign_key;
  std::vector<std::string> trusted_keys;
  bool allow_unsigned = false;
};

/// One run the gate judges: the figures it judges and the file that vouches for them.
struct GateInput {
  fs::path evidence;  ///< the verified attestation, or report.json for an unsigned run
  nlohmann::json figures;  ///< the verified predicate, or the unsigned report
  bool signed_input = false;
};

/// Every report.json a path stands for: the file itself, a run directory, or a directory of runs.
std::vector<fs::path> report_files(const std::string& path) {
  if (fs::is_regular_file(path)) return {path};
  if (fs::is_regular_file(fs::path(path) / "report.json")) return {fs::path(path) / "report.json"};
  std::vector<fs::path> found;
  if (fs::is_directory(path))
    for (const auto& entry : fs::directory_iterator(path))
      if (fs::is_regular_file(entry.path() / "report.json")) found.push_back(entry.path() / "report.json");
  std::sort(found.begin(), found.end());
  if (found.empty()) throw CLI::ValidationError("REPORT", fmt::format("{}: no report.json there", path));
  return found;
}

nlohmann::json read_json(const fs::path& file, const char* what) {
  std::ifstream in(file);
  auto json = nlohmann::json::parse(in, nullptr, false);
  if (!in.is_open() || json.is_discarded() || !json.is_object())
    throw CLI::ValidationError(what, fmt::format("{}: not a readable JSON document", file.string()));
  return json;
}

/// The deepest directory holding every input's run directory: subject names are relative to it,
/// so `firedrill verify VSA --artifacts ROOT` can check them wherever the gate ran.
fs::path subjects_root(const std::vector<GateInput>& inputs) {
  std::optional<fs::path> common;
  for (const auto& input : inputs) {
    // evidence is RUNS/RUN/file: names start with the runs directory, as in a roll-up.
    auto parent = fs::weakly_canonical(fs::absolute(input.evidence)).parent_path().parent_path().parent_path();
    if (!common) {
      common = parent;
      continue;
    }
    fs::path shared;
    for (auto a = common->begin(), b = parent.begin(); a != common->end() && b != parent.end() && *a == *b; ++a, ++b)
      shared /= *a;
    common = shared;
  }
  return common && !common->empty() ? *common : fs::path("/");
}

/// An in-toto Verification Summary (SLSA VSA v1) over the runs the gate judged (their verified
/// attestations; report.json for runs allowed in unsigned), so a deploy pipeline can require the
/// gate's verdict as evidence. It names the keys the runs were verified with and every unsigned
/// input, so a VSA over unverified figures says so in its signed predicate.
nlohmann::json verification_summary(const std::vector<GateInput>& judged, const fs::path& root,
                                    const std::vector<std::string>& trusted_key_ids, const GateOptions& options,
                                    bool passed) {
  nlohmann::json subjects = nlohmann::json::array();
  nlohmann::json inputs = nlohmann::json::array();
  nlohmann::json unsigned_inputs = nlohmann::json::array();
  for (const auto& input : judged) {
    auto digest = sha256_file(input.evidence);
    auto name = fs::weakly_canonical(fs::absolute(input.evidence)).lexically_relative(root).generic_string();
    subjects.push_back({{"name", name}, {"digest", {{"sha256", digest}}}});
    inputs.push_back({{"uri", name}, {"digest", {{"sha256", digest}}}});
    if (!input.signed_input) unsigned_inputs.push_back(name);
  }
  nlohmann::json predicate = {
      {"verifier", {{"id", "https://firedrill.dev/gate"}, {"version", {{"firedrill", FIREDRILL_VERSION}}}}},
      {"timeVerified", format_rfc3339_micros(real_clock().now())},
      {"resourceUri", "firedrill:recovery-benchmarks"},
      {"policy", {{"uri", fmt::format("firedrill-gate:tolerance={}", options.tolerance)}}},
      {"inputAttestations", inputs},
      {"verificationResult", passed ? "PASSED" : "FAILED"},
      {"verifiedLevels", nlohmann::json::array()},
      {"trustedKeys", trusted_key_ids},
      {"unsignedInputs", unsigned_inputs},
  };
  if (!options.baseline.empty())
    predicate["policy"]["digest"] = {{"sha256", sha256_file(options.baseline)}};
  return {{"_type", attestation::statement_type},
          {"subject", subjects},
          {"predicateType", attestation::vsa_predicate_type},
          {"predicate", predicate}};
}

/// Each run's figures: with trusted keys, its attestation verified against them and against the
/// run's files, the figures taken from the verified predicate only; a run without attestation is
/// refused unless --allow-unsigned. Without keys (and no --sign-key) every run is unsigned input.
/// Returns false (after saying why) when a run does not verify or is refused.
bool gather_inputs(const std::vector<fs::path>& files, const std::vector<attestation::PublicKey>& trusted,
                   const GateOptions& options, std::vector<GateInput>& inputs) {
  bool ok = true;
  for (const auto& file : files) {
    auto run_dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    auto attestation_file = run_dir / attestation::attestation_file_name;
    if (!trusted.empty() && fs::exists(fs::symlink_status(attestation_file))) {
      attestation::VerificationResult verified;
      try {
        verified = attestation::verify_statement(attestation::read_envelope(attestation_file), trusted,
                                                 attestation::drill_predicate_type, run_dir);
      } catch (const attestation::EnvelopeError& error) {
        verified.reason = error.what();
      }
      if (!verified.valid) {
        std::cout << fmt::format("gate: {} does not verify: {}\n", attestation_file.string(), verified.reason);
        ok = false;
        continue;
      }
      inputs.push_back({attestation_file, verified.statement["predicate"], true});
      continue;
    }
    if (!trusted.empty() && !options.allow_unsigned) {
      std::cout << fmt::format("gate: {} is not signed (no {}); --allow-unsigned judges it from its report, "
                               "and the Verification Summary then lists it as unsigned\n",
                               run_dir.string(), attestation::attestation_file_name);
      ok = false;
      continue;
    }
    auto report = read_json(file, "REPORT");
    if (report.value("schema", "") != "firedrill/report/v1")
      throw CLI::ValidationError("REPORT", fmt::format("{}: not a firedrill report (schema firedrill/report/v1)", file.string()));
    inputs.push_back({file, std::move(report), false});
  }
  return ok;
}

/// The figures the gate judges must have the fields it reads, of the right types: a signed
/// predicate of another shape is refused, not an exception.
std::optional<std::string> figures_problem(const nlohmann::json& figures) {
  if (!figures.is_object()) return "not a JSON object";
  auto scenario = figures.find("scenario");
  if (scenario == figures.end() || !scenario->is_object() || !scenario->contains("name") || !(*scenario)["name"].is_string())
    return "scenario.name is not a string";
  for (const char* field : {"verdict", "run_id", "expected"})
    if (figures.contains(field) && !figures[field].is_string()) return fmt::format("{} is not a string", field);
  if (figures.contains("measured") && !figures["measured"].is_object()) return "measured is not an object";
  if (figures.contains("reasons")) {
    if (!figures["reasons"].is_array()) return "reasons is not a list";
    for (const auto& reason : figures["reasons"])
      if (!reason.is_string()) return "reasons holds something other than sentences";
  }
  return std::nullopt;
}

int gate_command(const GateOptions& options) {
  double tolerance = 0;
  try {
    tolerance = parse_tolerance(options.tolerance);
  } catch (const std::invalid_argument& error) {
    throw CLI::ValidationError("--tolerance", error.what());
  }
  std::vector<fs::path> files;
  for (const auto& path : options.reports)
    for (auto& file : report_files(path)) files.push_back(std::move(file));

  std::optional<attestation::SigningKey> signing_key;
  std::vector<attestation::PublicKey> trusted;
  try {
    if (!options.sign_key.empty()) signing_key = attestation::SigningKey::load(options.sign_key);
    for (const auto& file : options.trusted_keys) trusted.push_back(attestation::PublicKey::load(file));
  } catch (const attestation::KeyError& error) {
    std::cerr << "firedrill gate: " << error.what() << "\n";
    return exit_code::invalid_input;
  }
  // A signed verdict is only as good as its inputs: by default they are verified with the key
  // that signs the verdict, as `attest` does.
  if (trusted.empty() && signing_key) trusted.push_back(signing_key->public_key());
  std::vector<std::string> trusted_key_ids;
  for (const auto& key : trusted) trusted_key_ids.push_back(key.key_id());

  std::vector<GateInput> inputs;
  if (!gather_inputs(files, trusted, options, inputs)) {
    std::cout << "gate: refused: every run judged must verify (no Verification Summary written)\n";
    return exit_code::failed;
  }
  std::vector<Report> reports;
  for (const auto& input : inputs) {
    if (auto problem = figures_problem(input.figures)) {
      std::cout << fmt::format("gate: {}: {}; cannot judge it\n", input.evidence.string(), *problem);
      return exit_code::failed;
    }
    reports.push_back(report_from_json(input.figures));
  }
  std::size_t unsigned_count = 0;
  for (const auto& input : inputs) unsigned_count += input.signed_input ? 0 : 1;
  if (trusted.empty())
    std::cout << fmt::format("gate: judging {} unsigned reports (no --key): nothing vouches for their figures\n",
                             inputs.size());
  else if (unsigned_count > 0)
    std::cout << fmt::format("gate: {} of {} runs are unsigned (--allow-unsigned); the Verification Summary lists them\n",
                             unsigned_count, inputs.size());
  auto figures = figures_of(reports);
  if (!options.write_baseline.empty()) {
    std::ofstream(options.write_baseline) << baseline_of(figures).dump(2) << "\n";
    std::cout << fmt::format("baseline of {} reports written to {}\n", reports.size(), options.write_baseline);
    return exit_code::ok;
  }
  std::optional<nlohmann::json> baseline;
  if (!options.baseline.empty()) baseline = read_json(options.baseline, "--baseline");
  auto verdict = judge(figures, baseline, tolerance);

  std::cout << fmt::format("{:<28} {:>6} {:>7} {:>10} {:>10} {:>10}\n", "scenario", "drills", "failed", "RTO median",
                           "RTO p95", "RPO max");
  for (const auto& [scenario, figures_of_scenario] : figures) {
    const auto& entry = figures_of_scenario;  // a structured binding clang before 16 cannot capture
    auto figure = [&](const char* metric, double Distribution::*field) {
      auto it = entry.metrics.find(metric);
      return it == entry.metrics.end() ? std::string("–") : fmt::format("{:.3f}s", it->second.*field);
    };
    std::cout << fmt::format("{:<28} {:>6} {:>7} {:>10} {:>10} {:>10}\n", scenario, entry.drills, entry.failed,
                             figure("rto_seconds", &Distribution::median), figure("rto_seconds", &Distribution::p95),
                             figure("rpo_seconds", &Distribution::max));
  }
  for (const auto& row : verdict.rows)
    if (row.regressed || row.current != row.baseline)
      std::cout << fmt::format("  {} {} {}: {:.3f} -> {:.3f}{}\n", row.scenario, row.metric, row.statistic, row.baseline,
                               row.current, row.regressed ? "  REGRESSED" : "");
  for (const auto& reason : verdict.reasons) std::cout << "  ! " << reason << "\n";
  std::cout << (verdict.passed ? "gate: PASS\n" : "gate: FAIL\n");

  auto root = subjects_root(inputs);
  auto statement = verification_summary(inputs, root, trusted_key_ids, options, verdict.passed);
  nlohmann::json written = statement;
  if (signing_key)
    written = attestation::to_json(
        attestation::sign_envelope(attestation::in_toto_payload_type, statement.dump(), *signing_key));
  std::ofstream(options.vsa) << written.dump(2) << "\n";
  if (signing_key)
    std::cout << fmt::format("verify: firedrill verify {} --key PUB --artifacts {} --require-result PASSED\n",
                             options.vsa, root.string());
  return verdict.passed ? exit_code::ok : exit_code::failed;
}

}  // namespace

void setup_gate(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<GateOptions>();
  auto* gate = app.add_subcommand("gate", "Judge repeated drills for a release: failures, objectives, regressions");
  gate->add_option("report", options->reports, "report.json files, run directories or directories of runs")->required();
  gate->add_option("--baseline", options->baseline, "a baseline written by --write-baseline")->check(CLI::ExistingFile);
  gate->add_option("--tolerance", options->tolerance, "how much a median or p95 may grow, e.g. 20%")->capture_default_str();
  gate->add_option("--write-baseline", options->write_baseline, "record these reports' distributions as the baseline");
  gate->add_option("--vsa", options->vsa, "where to write the Verification Summary")->capture_default_str();
  gate->add_option("--sign-key", options->sign_key,
                   "sign the Verification Summary as a DSSE envelope (runs are then verified, by default with its public half)");
  gate->add_option("--key", options->trusted_keys,
                   "public key trusted to have signed the runs: each run's attestation is verified and only its "
                   "signed predicate judged (repeatable)");
  gate->add_flag("--allow-unsigned", options->allow_unsigned,
                 "with --key or --sign-key, judge runs that have no attestation from their report.json; the "
                 "Verification Summary lists them as unsigned");
  gate->callback([options, &result] { result.exit_code = gate_command(*options); });
}

}  // namespace firedrill
