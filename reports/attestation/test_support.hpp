#pragma once
// Shared by the attestation tests: a scratch directory and a small synthetic run directory.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "reports/attestation/chain.hpp"
#include "reports/attestation/statement.hpp"

namespace firedrill::attestation::testing {

/// A fresh directory under /tmp, removed with its content when destroyed.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "firedrill-attest-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& file, const std::string& content) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A run directory as `firedrill run` leaves it (report.json, events.jsonl, acks.jsonl,
/// readback.jsonl), with a passing or failing verdict.
inline void write_run_directory(const std::filesystem::path& dir, bool passed = true) {
  auto report = nlohmann::json::parse(R"J({"schema":"firedrill/report/v1","run_id":"20261125-133219-1af7","mode":"run",
"scenario":{"name":"calibration-pause","file":"scenarios/calibration-pause.yaml","sha256":"9cbfccc6fc011dd19361a3b48405d4f9286ccaffa960aa9a5780d40c029a0001","runbook":"measurement calibration (no runbook)"},
"verdict":"pass","reasons":[],
"started_at":"2026-11-25T13:32:19.604722Z","finished_at":"2026-11-25T13:32:31.232120Z","incident_at":"2026-11-25T13:32:25.205397Z",
"measured":{"rto_seconds":3.009,"rpo_seconds":0.0,"downtime_seconds":3.0,"detect_seconds":0.005,"acked_writes":402,"lost_acked_writes":0},
"components":{"overall":{"met":true,"rto":{"measured_seconds":3.009,"target_seconds":3.03,"met":true},"rpo":{"measured_seconds":0.0,"target_seconds":0.0,"met":true}}},
"checks":[{"name":"rto(overall)","passed":true,"detail":"ok"},{"name":"lost_acked_writes(overall)","passed":true,"detail":"x"}],
"environment":{"runtime":"docker","firedrill_version":"0.1.0","services":[{"name":"db","kind":"postgres","image":"firedrill/postgres:15","image_id":"sha256:acb1370fca5e7e6cd436725c878713ead68266d076cbf7efbe82ae259dee0d37"}]}})J");
  if (!passed) {
    report["verdict"] = "fail";
    report["checks"][1]["passed"] = false;
  }
  write_file(dir / "report.json", report.dump(2));
  write_file(dir / "events.jsonl", "{\"t\":\"2026-11-25T13:32:25.205397Z\",\"kind\":\"incident\"}\n");
  write_file(dir / "acks.jsonl", "{\"id\":1,\"writer\":\"w\",\"sent\":\"2026-11-25T13:32:20Z\",\"acked\":null,\"outcome\":\"ok\"}\n");
  write_file(dir / "readback.jsonl", "{\"writer\":\"w\",\"ids\":[1]}\n");
}

/// A run of scenario started at started_at, in runs_dir/run_id, signed with key (its predicate
/// anchored to the chain head) and appended to runs_dir's chain as `firedrill run` does. Returns
/// the run directory.
inline std::filesystem::path write_signed_run(const std::filesystem::path& runs_dir, const std::string& run_id,
                                              const std::string& scenario, const std::string& started_at, bool passed,
                                              double rto_seconds, const SigningKey& key) {
  auto dir = runs_dir / run_id;
  std::filesystem::create_directories(dir);
  write_run_directory(dir, passed);
  auto report = nlohmann::json::parse(read_file(dir / "report.json"));
  report["run_id"] = run_id;
  report["scenario"]["name"] = scenario;
  report["started_at"] = started_at;
  report["measured"]["rto_seconds"] = rto_seconds;
  report["components"]["overall"]["rto"]["measured_seconds"] = rto_seconds;
  write_file(dir / "report.json", report.dump(2));
  sign_and_chain(runs_dir, run_id, dir, key);
  return dir;
}

}  // namespace firedrill::attestation::testing
