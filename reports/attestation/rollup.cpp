// The roll-up itself: the verified runs of a period collected from their runs directories and
// evidence chains, their figures per scenario, the in-toto Statement that holds them, and the
// verification of a signed roll-up. Beside it: periods (rollup_period.cpp), the policy and the
// control mapping (rollup_policy.cpp), the Markdown summary (rollup_markdown.cpp).
#include "reports/attestation/rollup.hpp"

#include <algorithm>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "reports/artifacts.hpp"
#include "reports/attestation/chain.hpp"
#include "reports/attestation/rollup_internal.hpp"
#include "reports/gate.hpp"

namespace firedrill::attestation {
namespace {

namespace fs = std::filesystem;

nlohmann::json statistics(const std::vector<double>& values, const nlohmann::json& target) {
  auto distribution = distribution_of(values);
  if (!distribution) return {{"count", 0}, {"target", target}, {"met", nullptr}};
  nlohmann::json figure = {{"count", distribution->count}, {"min", distribution->min},
                           {"median", distribution->median}, {"p95", distribution->p95},
                           {"max", distribution->max}, {"target", target}};
  figure["met"] = target.is_number() ? nlohmann::json(distribution->max <= target.get<double>()) : nlohmann::json();
  return figure;
}

std::map<std::string, std::string> chain_digests(const fs::path& runs_dir) {
  std::map<std::string, std::string> digests;
  std::ifstream in(runs_dir / "chain.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.is_object() && entry.contains("attestation") && entry["attestation"].is_string())
      digests[entry["attestation"].get<std::string>()] =
          entry.contains("attestation_sha256") && entry["attestation_sha256"].is_string()
              ? entry["attestation_sha256"].get<std::string>()
              : std::string();
  }
  return digests;
}

fs::path common_ancestor(const std::vector<fs::path>& paths) {
  fs::path common;
  bool first = true;
  for (const auto& path : paths) {
    if (first) {
      common = path;
      first = false;
      continue;
    }
    fs::path shared;
    auto a = common.begin(), b = path.begin();
    for (; a != common.end() && b != path.end() && *a == *b; ++a, ++b) shared /= *a;
    common = shared;
  }
  return common.empty() ? fs::path("/") : common;
}

}  // namespace

nlohmann::json at_path(const nlohmann::json& json, std::initializer_list<const char*> keys) {
  const nlohmann::json* node = &json;
  for (const char* key : keys) {
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
  }
  return *node;
}

nlohmann::json run_summary(const RunRecord& run) {
  return {{"run_id", run.run_id}, {"scenario", run.scenario}, {"started_at", run.started_at},
          {"result", run.result}, {"attestation", run.attestation},
          {"mode", run.predicate.is_object() && run.predicate.contains("mode") ? run.predicate["mode"] : nlohmann::json(nullptr)}};
}

RunCollection collect_runs(const std::vector<fs::path>& runs_dirs, const Period& period,
                           const std::vector<PublicKey>& trusted_keys) {
  RunCollection collection;
  std::vector<fs::path> absolute_dirs;
  std::vector<fs::path> parents;
  for (const auto& dir : runs_dirs) {
    if (!fs::is_directory(dir)) throw RollupInputError(fmt::format("{}: not a directory of runs", dir.string()));
    auto absolute = fs::weakly_canonical(fs::absolute(dir));
    // The same directory named twice (or through another path) is read once.
    if (std::find(absolute_dirs.begin(), absolute_dirs.end(), absolute) != absolute_dirs.end()) continue;
    absolute_dirs.push_back(absolute);
    parents.push_back(absolute.parent_path());
  }
  std::map<std::string, std::string> included_digests;  // attestation sha256 → subject name
  std::map<std::string, std::string> included_run_ids;  // run id → subject name
  collection.root = common_ancestor(parents);

  for (const auto& dir : absolute_dirs) {
    ChainStatus chain;
    chain.directory = fs::relative(dir, collection.root).generic_string();
    try {
      auto check = verify_chain(dir, trusted_keys);
      chain.valid = check.valid;
      chain.entries = check.entries;
      chain.reason = check.reason;
      chain.head_seq = check.head_seq;
      chain.head_hash = check.head_hash;
    } catch (const std::runtime_error& error) {
      chain.reason = error.what();
    }
    collection.chains.push_back(chain);
    auto chained = chain_digests(dir);

    std::vector<fs::path> run_dirs;
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.is_directory() && fs::is_regular_file(entry.path() / attestation_file_name))
        run_dirs.push_back(entry.path());
    std::sort(run_dirs.begin(), run_dirs.end());

    for (const auto& run_dir : run_dirs) {
      auto file = run_dir / attestation_file_name;
      auto name = fs::relative(file, collection.root).generic_string();
      // Nothing unsigned decides anything: a run that does not verify is listed whatever its
      // report.json says about its date, and is known only by its directory's name.
      auto exclude_unverified = [&](const std::string& reason) {
        collection.excluded.push_back({name, run_dir.filename().string(), reason, false});
      };
      VerificationResult verified;
      try {
        verified = verify_statement(read_envelope(file), trusted_keys, drill_predicate_type, run_dir);
      } catch (const EnvelopeError& error) {
        exclude_unverified(error.what());
        continue;
      }
      if (!verified.valid) {
        exclude_unverified(verified.reason);
        continue;
      }
      const auto& predicate = verified.statement["predicate"];
      auto started_at = at_path(predicate, {"started_at"});
      auto started = started_at.is_string() ? parse_timestamp(started_at.get<std::string>()) : std::nullopt;
      auto attested_run_id = at_path(predicate, {"run_id"}).is_string() ? predicate["run_id"].get<std::string>() : "";
      auto exclude = [&](const std::string& reason) {
        collection.excluded.push_back({name, attested_run_id, reason, true});
      };
      if (!started) {
        collection.excluded.push_back({name, attested_run_id, "the attested predicate has no RFC 3339 started_at", false});
        continue;
      }
      const std::int64_t started_seconds = *started;
      if (!period.contains(started_seconds)) {
        ++collection.outside_period;
        continue;
      }
      auto digest = sha256_file(file);
      if (included_digests.count(digest)) {
        ++collection.duplicates;
        continue;
      }
      auto in_chain = chained.find(fs::relative(file, dir).generic_string());
      if (in_chain == chained.end()) {
        exclude(fmt::format("not in the evidence chain {}/chain.jsonl", chain.directory));
        continue;
      }
      if (in_chain->second != digest) {
        exclude(fmt::format("changed since it was chained: sha256 {}, chain.jsonl has {}", digest, in_chain->second));
        continue;
      }
      if (auto earlier = included_run_ids.find(attested_run_id); earlier != included_run_ids.end()) {
        exclude(fmt::format("run {} is already included from {} with a different attestation", attested_run_id,
                            earlier->second));
        continue;
      }
      included_digests[digest] = name;
      included_run_ids[attested_run_id] = name;
      RunRecord run;
      run.run_id = attested_run_id;
      run.scenario = at_path(predicate, {"scenario", "name"}).is_string() ? predicate["scenario"]["name"].get<std::string>() : "";
      run.attestation = name;
      run.attestation_sha256 = digest;
      run.started_at = started_at.get<std::string>();
      run.started = started_seconds;
      auto result = at_path(predicate, {"result"});
      run.result = result.is_string() ? result.get<std::string>() : "FAILED";
      run.predicate = predicate;
      auto tags = at_path(predicate, {"scenario", "tags"});
      if (tags.is_array())
        for (const auto& tag : tags)
          if (tag.is_string()) run.tags.push_back(tag.get<std::string>());
      collection.included.push_back(std::move(run));
    }
  }
  std::stable_sort(collection.included.begin(), collection.included.end(),
                   [](const RunRecord& a, const RunRecord& b) { return a.started < b.started; });
  return collection;
}

nlohmann::json aggregate_scenarios(const std::vector<RunRecord>& runs) {
  std::map<std::string, std::vector<const RunRecord*>> by_scenario;
  for (const auto& run : runs) by_scenario[run.scenario].push_back(&run);
  nlohmann::json scenarios = nlohmann::json::object();
  for (auto& [scenario, list] : by_scenario) {
    std::stable_sort(list.begin(), list.end(), [](const RunRecord* a, const RunRecord* b) { return a->started < b->started; });
    const RunRecord& last = *list.back();
    std::size_t passed = 0, failed = 0, warned = 0;
    std::vector<double> rto, rpo;
    std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> components;
    std::size_t rehearsals = 0;
    for (const auto* run : list) {
      (run->result == "PASSED" ? passed : run->result == "WARNED" ? warned : failed)++;
      if (at_path(run->predicate, {"mode"}) == "rehearsal") ++rehearsals;
      auto measured_rto = at_path(run->predicate, {"measured", "rto_seconds"});
      auto measured_rpo = at_path(run->predicate, {"measured", "rpo_seconds"});
      if (measured_rto.is_number()) rto.push_back(measured_rto.get<double>());
      if (measured_rpo.is_number()) rpo.push_back(measured_rpo.get<double>());
      auto run_components = at_path(run->predicate, {"components"});
      if (run_components.is_object())
        for (const auto& [name, component] : run_components.items()) {
          auto& [component_rto, component_rpo] = components[name];
          auto c_rto = at_path(component, {"rto", "measured_seconds"});
          auto c_rpo = at_path(component, {"rpo", "measured_seconds"});
          if (c_rto.is_number()) component_rto.push_back(c_rto.get<double>());
          if (c_rpo.is_number()) component_rpo.push_back(c_rpo.get<double>());
        }
    }
    nlohmann::json component_figures = nlohmann::json::object();
    for (const auto& [name, samples] : components)
      component_figures[name] = {
          {"rto_seconds", statistics(samples.first, at_path(last.predicate, {"components", name.c_str(), "rto", "target_seconds"}))},
          {"rpo_seconds", statistics(samples.second, at_path(last.predicate, {"components", name.c_str(), "rpo", "target_seconds"}))}};
    scenarios[scenario] = {
        {"runs", list.size()},
        {"passed", passed},
        {"failed", failed},
        {"warned", warned},
        {"rehearsals", rehearsals},  // of the runs, those a person performed (firedrill rehearse)
        {"rto_seconds", statistics(rto, at_path(last.predicate, {"targets", "overall", "rto_seconds"}))},
        {"rpo_seconds", statistics(rpo, at_path(last.predicate, {"targets", "overall", "rpo_seconds"}))},
        {"components", component_figures},
        {"last_run", run_summary(last)},
    };
  }
  return scenarios;
}

nlohmann::json rollup_statement(const RunCollection& collection, const RollupInputs& inputs) {
  nlohmann::json subjects = nlohmann::json::array();
  nlohmann::json included = nlohmann::json::array();
  for (const auto& run : collection.included) {
    subjects.push_back({{"name", run.attestation}, {"digest", {{"sha256", run.attestation_sha256}}}});
    included.push_back(run_summary(run));
  }
  nlohmann::json excluded = nlohmann::json::array();
  for (const auto& run : collection.excluded)
    excluded.push_back({{"attestation", run.attestation},
                        {"run_id", run.run_id},
                        {"reason", run.reason},
                        {"period", run.period_known ? "in the period" : "unknown"}});
  nlohmann::json chains = nlohmann::json::array();
  bool chains_valid = true;
  for (const auto& chain : collection.chains) {
    chains_valid = chains_valid && chain.valid;
    chains.push_back({{"directory", chain.directory}, {"valid", chain.valid}, {"entries", chain.entries},
                      {"reason", chain.reason},
                      {"head", {{"seq", chain.head_seq}, {"hash", chain.head_hash}}}});
  }
  nlohmann::json policy = nullptr;
  if (inputs.policy_file) policy = evaluate_policy(load_policy(*inputs.policy_file), collection.included, inputs.period);
  nlohmann::json controls = nullptr;
  if (inputs.controls_file) controls = map_controls(load_controls(*inputs.controls_file), collection.included);

  std::string result = "PASSED";
  if (!excluded.empty() || !chains_valid) result = "WARNED";
  if (policy.is_object() && policy["result"] == "FAILED") result = "FAILED";
  std::size_t passed = 0, failed = 0;
  for (const auto& run : collection.included) (run.result == "PASSED" ? passed : failed)++;

  nlohmann::json predicate = {
      {"period", {{"label", inputs.period.label},
                  {"from", format_timestamp(inputs.period.from)},
                  {"to", format_timestamp(inputs.period.to)}}},
      {"result", result},
      {"totals", {{"runs", collection.included.size()}, {"passed", passed}, {"failed", failed},
                  {"excluded", collection.excluded.size()}}},
      {"scenarios", aggregate_scenarios(collection.included)},
      {"included", included},
      {"excluded", excluded},
      {"chains", chains},
      {"policy", policy},
      {"controls", controls},
      {"trustedKeys", inputs.trusted_key_ids},
      {"signer", {{"keyid", inputs.signer_key_id}}},
      {"generatedAt", inputs.generated_at},
      {"firedrill_version", inputs.firedrill_version},
  };
  return {{"_type", statement_type},
          {"subject", subjects},
          {"predicateType", rollup_predicate_type},
          {"predicate", predicate}};
}

RollupVerification verify_rollup(const Envelope& envelope, const std::vector<PublicKey>& trusted_keys,
                                 const std::optional<fs::path>& artifacts_dir, bool deep) {
  RollupVerification verification;
  verification.statement = verify_statement(envelope, trusted_keys, rollup_predicate_type, artifacts_dir);
  if (!verification.statement.valid || !artifacts_dir) return verification;
  // Truncation behind the roll-up: each chain must still hold the head it signed.
  const auto& chains = verification.statement.statement["predicate"].value("chains", nlohmann::json::array());
  for (const auto& chain : chains) {
    auto seq = at_path(chain, {"head", "seq"});
    auto hash = at_path(chain, {"head", "hash"});
    auto directory = at_path(chain, {"directory"});
    if (!seq.is_number_unsigned() || !hash.is_string() || !directory.is_string()) continue;  // signed before heads
    fs::path relative(directory.get<std::string>());
    bool escapes = relative.is_absolute();
    for (const auto& part : relative) escapes = escapes || part == "..";
    auto problem = escapes ? std::optional<std::string>("its directory is not inside the artifacts directory")
                           : chain_extends(*artifacts_dir / relative, seq.get<std::size_t>(), hash.get<std::string>());
    if (problem) {
      verification.statement.valid = false;
      verification.statement.reason = fmt::format("chain {}: {}", directory.get<std::string>(), *problem);
      return verification;
    }
    ++verification.chains_checked;
  }
  if (!deep) return verification;
  for (const auto& subject : verification.statement.statement["subject"]) {
    auto name = subject["name"].get<std::string>();
    auto file = *artifacts_dir / name;
    VerificationResult run;
    try {
      run = verify_statement(read_envelope(file), trusted_keys, drill_predicate_type, file.parent_path());
    } catch (const EnvelopeError& error) {
      run.reason = error.what();
    }
    if (!run.valid) {
      verification.statement.valid = false;
      verification.statement.reason = fmt::format("included run {}: {}", name, run.reason);
      return verification;
    }
    ++verification.runs_verified;
  }
  return verification;
}

}  // namespace firedrill::attestation
