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

/// An in-toto Verification Summary (SLSA VSA v1) over the reports the gate judged, so a deploy
/// pipeline can require the gate's verdict as evidence.
nlohmann::json verification_summary(const std::vector<fs::path>& files, const GateOptions& options, bool passed) {
  nlohmann::json subjects = nlohmann::json::array();
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& file : files) {
    auto digest = sha256_file(file);
    subjects.push_back({{"name", file.string()}, {"digest", {{"sha256", digest}}}});
    inputs.push_back({{"uri", file.string()}, {"digest", {{"sha256", digest}}}});
  }
  nlohmann::json predicate = {
      {"verifier", {{"id", "https://firedrill.dev/gate"}, {"version", {{"firedrill", FIREDRILL_VERSION}}}}},
      {"timeVerified", format_rfc3339_micros(real_clock().now())},
      {"resourceUri", "firedrill:recovery-benchmarks"},
      {"policy", {{"uri", fmt::format("firedrill-gate:tolerance={}", options.tolerance)}}},
      {"inputAttestations", inputs},
      {"verificationResult", passed ? "PASSED" : "FAILED"},
      {"verifiedLevels", nlohmann::json::array()},
  };
  if (!options.baseline.empty())
    predicate["policy"]["digest"] = {{"sha256", sha256_file(options.baseline)}};
  return {{"_type", "https://in-toto.io/Statement/v1"},
          {"subject", subjects},
          {"predicateType", "https://slsa.dev/verification_summary/v1"},
          {"predicate", predicate}};
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
  std::vector<nlohmann::json> reports;
  for (const auto& file : files) {
    auto report = read_json(file, "REPORT");
    if (report.value("schema", "") != "firedrill/report/v1")
      throw CLI::ValidationError("REPORT", fmt::format("{}: not a firedrill report (schema firedrill/report/v1)", file.string()));
    reports.push_back(std::move(report));
  }
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
  for (const auto& [scenario, entry] : figures) {
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

  auto statement = verification_summary(files, options, verdict.passed);
  nlohmann::json written = statement;
  if (!options.sign_key.empty()) {
    auto key = attestation::SigningKey::load(options.sign_key);
    written = attestation::to_json(attestation::sign_envelope("application/vnd.in-toto+json", statement.dump(), key));
  }
  std::ofstream(options.vsa) << written.dump(2) << "\n";
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
  gate->add_option("--sign-key", options->sign_key, "sign the Verification Summary as a DSSE envelope");
  gate->callback([options, &result] { result.exit_code = gate_command(*options); });
}

}  // namespace firedrill
