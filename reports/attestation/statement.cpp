#include "reports/attestation/statement.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "reports/artifacts.hpp"

namespace firedrill::attestation {
namespace {

nlohmann::json value_or_null(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto found = object.find(key);
  return found == object.end() ? nlohmann::json(nullptr) : *found;
}

nlohmann::json read_json_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", file.string()));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(fmt::format("{}: not JSON: {}", file.string(), error.what()));
  }
}

// "sha256:abc…" → {"sha256": "abc…"}; an id without an algorithm prefix is taken as sha256.
nlohmann::json image_digest(const std::string& image_id) {
  auto colon = image_id.find(':');
  if (colon == std::string::npos) return {{"sha256", image_id}};
  return {{image_id.substr(0, colon), image_id.substr(colon + 1)}};
}

nlohmann::json configuration(const nlohmann::json& report) {
  nlohmann::json descriptors = nlohmann::json::array();
  const auto& scenario = value_or_null(report, "scenario");
  if (scenario.is_object()) {
    nlohmann::json descriptor = {{"name", value_or_null(scenario, "file")}};
    if (scenario.contains("sha256")) descriptor["digest"] = {{"sha256", scenario["sha256"]}};
    descriptor["annotations"] = {{"role", "scenario"}};
    descriptors.push_back(descriptor);
  }
  const auto services = value_or_null(value_or_null(report, "environment"), "services");
  if (services.is_array())
    for (const auto& service : services) {
      nlohmann::json descriptor = {{"name", value_or_null(service, "image")}};
      auto id = value_or_null(service, "image_id");
      if (id.is_string() && !id.get<std::string>().empty()) descriptor["digest"] = image_digest(id.get<std::string>());
      descriptor["annotations"] = {{"role", "image"}, {"service", value_or_null(service, "name")}};
      descriptors.push_back(descriptor);
    }
  return descriptors;
}

VerificationResult failure(std::string reason) {
  VerificationResult result;
  result.reason = std::move(reason);
  return result;
}

}  // namespace

const std::vector<std::string>& attested_run_files() {
  static const std::vector<std::string> files{"report.json", "events.jsonl", "acks.jsonl", "readback.jsonl"};
  return files;
}

nlohmann::json drill_predicate(const nlohmann::json& report, const std::string& signer_key_id,
                               const std::optional<ChainAnchor>& anchor) {
  const auto scenario = value_or_null(report, "scenario");
  const auto measured = value_or_null(report, "measured");
  const auto environment = value_or_null(report, "environment");
  const auto verdict = value_or_null(report, "verdict");
  nlohmann::json targets = nlohmann::json::object();
  nlohmann::json components = value_or_null(report, "components");
  if (components.is_object())
    for (const auto& [name, component] : components.items())
      targets[name] = {{"rto_seconds", value_or_null(value_or_null(component, "rto"), "target_seconds")},
                       {"rpo_seconds", value_or_null(value_or_null(component, "rpo"), "target_seconds")}};
  nlohmann::json passed = nlohmann::json::array(), failed = nlohmann::json::array();
  const auto checks = value_or_null(report, "checks");
  if (checks.is_array())
    for (const auto& check : checks)
      (value_or_null(check, "passed") == true ? passed : failed).push_back(value_or_null(check, "name"));
  nlohmann::json measured_summary = nlohmann::json::object();
  for (const char* key : {"rto_seconds", "rpo_seconds", "downtime_seconds", "detect_seconds", "acked_writes",
                          "lost_acked_writes"})
    measured_summary[key] = value_or_null(measured, key);
  // An `expect: fail` drill does its job by failing; signing it FAILED would make every roll-up
  // policy (`latest_must_pass`) count a caught fault as a missed objective.
  const bool expected_to_fail = value_or_null(report, "expected") == "fail";
  const bool as_expected = (verdict == "pass") != expected_to_fail;
  nlohmann::json predicate = {
      {"run_id", value_or_null(report, "run_id")},
      {"mode", value_or_null(report, "mode")},
      {"scenario",
       {{"name", value_or_null(scenario, "name")},
        {"file", value_or_null(scenario, "file")},
        {"sha256", value_or_null(scenario, "sha256")},
        {"tags", value_or_null(scenario, "tags").is_array() ? scenario["tags"] : nlohmann::json::array()}}},
      {"runbook", value_or_null(scenario, "runbook")},
      {"targets", targets},
      {"components", components.is_object() ? components : nlohmann::json::object()},
      {"measured", measured_summary},
      {"verdict", verdict},
      {"reasons", value_or_null(report, "reasons").is_array() ? report["reasons"] : nlohmann::json::array()},
      {"expected", expected_to_fail ? "fail" : "pass"},
      {"result", as_expected ? "PASSED" : "FAILED"},
      {"passedTests", passed},
      {"failedTests", failed},
      {"configuration", configuration(report)},
      {"started_at", value_or_null(report, "started_at")},
      {"finished_at", value_or_null(report, "finished_at")},
      {"incident_at", value_or_null(report, "incident_at")},
      {"runtime", value_or_null(environment, "runtime")},
      {"firedrill_version", value_or_null(environment, "firedrill_version")},
      {"signer", {{"keyid", signer_key_id}}},
  };
  if (anchor) predicate["chain"] = {{"seq", anchor->seq}, {"prev", anchor->prev}};
  return predicate;
}

nlohmann::json run_statement(const std::filesystem::path& run_dir, const std::string& signer_key_id,
                             const std::optional<ChainAnchor>& anchor) {
  auto report = read_json_file(run_dir / "report.json");
  nlohmann::json subjects = nlohmann::json::array();
  for (const auto& name : attested_run_files())
    if (std::filesystem::is_regular_file(run_dir / name))
      subjects.push_back({{"name", name}, {"digest", {{"sha256", sha256_file(run_dir / name)}}}});
  return {{"_type", statement_type},
          {"subject", subjects},
          {"predicateType", drill_predicate_type},
          {"predicate", drill_predicate(report, signer_key_id, anchor)}};
}

std::filesystem::path sign_run_directory(const std::filesystem::path& run_dir, const SigningKey& key,
                                         const std::optional<ChainAnchor>& anchor) {
  auto payload = run_statement(run_dir, key.key_id(), anchor).dump();
  auto envelope = sign_envelope(in_toto_payload_type, payload, key);
  auto file = run_dir / attestation_file_name;
  auto partial = run_dir / (std::string(attestation_file_name) + ".partial");
  auto text = to_json(envelope).dump(2) + "\n";
  // Durable before it is renamed into place: after a crash the attestation is whole or absent.
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", partial.string(), std::strerror(errno)));
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) throw std::runtime_error(fmt::format("cannot write {}", partial.string()));
  std::filesystem::rename(partial, file);
  if (int dir = ::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return file;
}

Envelope read_envelope(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw EnvelopeError(fmt::format("{}: cannot read", file.string()));
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception&) {
    throw EnvelopeError(fmt::format("{}: not a DSSE envelope: not JSON", file.string()));
  }
  try {
    return envelope_from_json(json);
  } catch (const EnvelopeError& error) {
    throw EnvelopeError(fmt::format("{}: {}", file.string(), error.what()));
  }
}

VerificationResult verify_envelope(const std::filesystem::path& file, const PublicKey& trusted_key,
                                   const std::optional<std::filesystem::path>& artifacts_dir) {
  return verify_envelope(read_envelope(file), trusted_key, artifacts_dir);
}

VerificationResult verify_envelope(const Envelope& envelope, const PublicKey& trusted_key,
                                   const std::optional<std::filesystem::path>& artifacts_dir) {
  return verify_statement(envelope, {trusted_key}, drill_predicate_type, artifacts_dir);
}

VerificationResult verify_statement(const Envelope& envelope, const std::vector<PublicKey>& trusted_keys,
                                    std::string_view predicate_type,
                                    const std::optional<std::filesystem::path>& artifacts_dir) {
  if (trusted_keys.empty()) return failure("no trusted key given");
  SignatureCheck check;
  std::string first_reason;
  std::string verified_key_id;
  for (const auto& key : trusted_keys) {
    check = verify_signatures(envelope, key);
    if (check.verified) {
      verified_key_id = key.key_id();
      break;
    }
    if (first_reason.empty()) first_reason = check.reason;
  }
  if (!check.verified) return failure(first_reason);
  if (envelope.payload_type != in_toto_payload_type)
    return failure(fmt::format("payload type is '{}', expected '{}'", envelope.payload_type, in_toto_payload_type));
  nlohmann::json statement;
  try {
    statement = nlohmann::json::parse(check.payload);
  } catch (const nlohmann::json::exception&) {
    return failure("signed payload is not JSON");
  }
  if (!statement.is_object() || value_or_null(statement, "_type") != statement_type)
    return failure(fmt::format("statement type is {}, expected '{}'", value_or_null(statement, "_type").dump(),
                               statement_type));
  if (value_or_null(statement, "predicateType") != predicate_type)
    return failure(fmt::format("predicate type is {}, expected '{}'",
                               value_or_null(statement, "predicateType").dump(), predicate_type));
  const auto subjects = value_or_null(statement, "subject");
  if (!subjects.is_array() || subjects.empty()) return failure("statement has no subjects");
  VerificationResult result;
  result.statement = statement;
  result.verified_key_id = verified_key_id;
  if (artifacts_dir) {
    for (const auto& subject : subjects) {
      auto name = value_or_null(subject, "name");
      auto digest = value_or_null(value_or_null(subject, "digest"), "sha256");
      if (!name.is_string() || !digest.is_string())
        return failure("a subject lacks a name or a sha256 digest");
      std::filesystem::path relative(name.get<std::string>());
      bool escapes = relative.is_absolute();
      for (const auto& part : relative)
        if (part == "..") escapes = true;
      if (escapes) return failure(fmt::format("subject {} is not a path inside the artifacts directory", name.dump()));
      auto path = *artifacts_dir / relative;
      if (!std::filesystem::is_regular_file(path))
        return failure(fmt::format("subject {} missing: {} does not exist", name.get<std::string>(), path.string()));
      auto actual = sha256_file(path);
      if (actual != digest.get<std::string>())
        return failure(fmt::format("subject {} changed: sha256 {}, attested {}", name.get<std::string>(), actual,
                                   digest.get<std::string>()));
      ++result.subjects_checked;
    }
  }
  result.valid = true;
  return result;
}

}  // namespace firedrill::attestation
