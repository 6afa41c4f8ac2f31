// What a roll-up is judged against: the policy of required drills and the mapping of drills to
// compliance controls. Both are YAML files a person edits, read here with errors naming
// file:line:column, and both select runs by scenario name or glob.
#include "reports/attestation/rollup.hpp"

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/hashing.hpp"
#include "reports/attestation/rollup_internal.hpp"

namespace firedrill::attestation {
namespace {

namespace fs = std::filesystem;

/// The text of a scalar; "" for anything else, a missing key included (asking a missing key's
/// node what it is throws).
std::string node_text(const YAML::Node& node) {
  return node && node.IsScalar() ? node.as<std::string>() : std::string();
}

YAML::Node load_yaml(const fs::path& file) {
  if (!fs::is_regular_file(file)) throw RollupInputError(fmt::format("{}: no such file", file.string()));
  try {
    return YAML::LoadFile(file.string());
  } catch (const YAML::Exception& error) {
    throw RollupInputError(fmt::format("{}:{}:{}: not YAML: {}", file.string(), error.mark.line + 1,
                                       error.mark.column + 1, error.msg));
  }
}

[[noreturn]] void bad_entry(const fs::path& file, const YAML::Node& node, const std::string& message) {
  auto mark = node.Mark();
  if (mark.is_null()) throw RollupInputError(fmt::format("{}: {}", file.string(), message));
  throw RollupInputError(fmt::format("{}:{}:{}: {}", file.string(), mark.line + 1, mark.column + 1, message));
}

void check_version(const fs::path& file, const YAML::Node& root, const char* list_key) {
  if (!root.IsMap()) bad_entry(file, root, fmt::format("expected a mapping with 'version: 1' and '{}'", list_key));
  for (const auto& entry : root) {
    auto key = entry.first.as<std::string>();
    if (key != "version" && key != list_key && key != "note")
      bad_entry(file, entry.first, fmt::format("unknown key '{}' (expected version, note, {})", key, list_key));
  }
  if (!root["version"] || node_text(root["version"]) != "1") bad_entry(file, root, "expected 'version: 1'");
  if (!root[list_key] || !root[list_key].IsSequence())
    bad_entry(file, root, fmt::format("expected '{}' to be a list", list_key));
}

std::vector<std::string> string_list(const fs::path& file, const YAML::Node& node, const char* what) {
  std::vector<std::string> values;
  if (!node) return values;
  if (node.IsScalar()) return {node.as<std::string>()};
  if (!node.IsSequence()) bad_entry(file, node, fmt::format("'{}' must be a name or a list of names", what));
  for (const auto& item : node) {
    if (!item.IsScalar()) bad_entry(file, item, fmt::format("'{}' must be a list of names", what));
    values.push_back(item.as<std::string>());
  }
  return values;
}

long non_negative(const fs::path& file, const YAML::Node& node, const char* what, long fallback) {
  if (!node) return fallback;
  static const std::regex digits(R"(\d{1,9})");
  auto text = node_text(node);
  if (!std::regex_match(text, digits)) bad_entry(file, node, fmt::format("'{}' must be a whole number >= 0", what));
  return std::stol(text);
}

bool run_matches(const nlohmann::json& patterns, const nlohmann::json& tags, const RunRecord& run) {
  for (const auto& pattern : patterns)
    if (glob_match(pattern.get<std::string>(), run.scenario)) return true;
  for (const auto& tag : tags)
    if (std::find(run.tags.begin(), run.tags.end(), tag.get<std::string>()) != run.tags.end()) return true;
  return false;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view name) {
  std::size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

nlohmann::json load_policy(const fs::path& file) {
  auto root = load_yaml(file);
  check_version(file, root, "rules");
  static const std::set<std::string> known{"name", "scenario", "min_runs", "min_passed", "latest_must_pass", "per"};
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& rule : root["rules"]) {
    if (!rule.IsMap()) bad_entry(file, rule, "a rule is a mapping (name, scenario, min_runs, ...)");
    for (const auto& entry : rule) {
      auto key = entry.first.as<std::string>();
      if (!known.count(key))
        bad_entry(file, entry.first,
                  fmt::format("unknown key '{}' (a rule has name, scenario, min_runs, min_passed, latest_must_pass, per)", key));
    }
    if (!rule["name"] || node_text(rule["name"]).empty()) bad_entry(file, rule, "a rule needs a 'name'");
    auto name = node_text(rule["name"]);
    if (!rule["scenario"] || node_text(rule["scenario"]).empty())
      bad_entry(file, rule, fmt::format("rule '{}' needs a 'scenario' (a name or a pattern with *)", name));
    auto per = rule["per"] ? node_text(rule["per"]) : std::string("period");
    if (per != "period" && per != "month" && per != "quarter" && per != "year")
      bad_entry(file, rule["per"], fmt::format("rule '{}': 'per' must be period, month, quarter or year, not '{}'", name, per));
    bool latest = false;
    if (rule["latest_must_pass"]) {
      auto text = node_text(rule["latest_must_pass"]);
      if (text != "true" && text != "false")
        bad_entry(file, rule["latest_must_pass"], fmt::format("rule '{}': 'latest_must_pass' must be true or false", name));
      latest = text == "true";
    }
    rules.push_back({{"name", name},
                     {"scenario", node_text(rule["scenario"])},
                     {"min_runs", non_negative(file, rule["min_runs"], "min_runs", 1)},
                     {"min_passed", non_negative(file, rule["min_passed"], "min_passed", 0)},
                     {"latest_must_pass", latest},
                     {"per", per}});
  }
  return {{"file", file.string()}, {"sha256", sha256_file(file)}, {"rules", rules}};
}

nlohmann::json evaluate_policy(const nlohmann::json& policy, const std::vector<RunRecord>& runs, const Period& period) {
  nlohmann::json evaluated = nlohmann::json::array();
  bool all_passed = true;
  for (const auto& rule : policy.at("rules")) {
    auto pattern = rule.at("scenario").get<std::string>();
    auto per = rule.at("per").get<std::string>();
    long min_runs = rule.at("min_runs").get<long>(), min_passed = rule.at("min_passed").get<long>();
    bool latest_must_pass = rule.at("latest_must_pass").get<bool>();
    int step = per == "month" ? 1 : per == "quarter" ? 3 : per == "year" ? 12 : 0;
    std::string requirement = fmt::format("at least {} run{}", min_runs, min_runs == 1 ? "" : "s");
    if (min_passed > 0) requirement += fmt::format(", at least {} passed", min_passed);
    if (latest_must_pass) requirement += ", the latest passed";
    requirement += step == 0 ? " in the period" : fmt::format(" each {}", per);

    nlohmann::json windows = nlohmann::json::array();
    bool rule_passed = true;
    for (std::int64_t from = period.from; from < period.to;) {
      std::int64_t to = period.to;
      if (step > 0) {
        // Calendar windows: a month window of a range starting mid-month ends at that month's end.
        auto tm = utc_tm(from);
        int first_month = step == 1 ? tm.tm_mon : (tm.tm_mon / step) * step;
        to = std::min(period.to, add_months(utc_seconds(tm.tm_year + 1900, first_month + 1, 1), step));
      }
      long count = 0, passed = 0;
      const RunRecord* latest = nullptr;
      for (const auto& run : runs)
        if (run.started >= from && run.started < to && glob_match(pattern, run.scenario)) {
          ++count;
          if (run.result == "PASSED") ++passed;
          if (!latest || run.started >= latest->started) latest = &run;
        }
      nlohmann::json reasons = nlohmann::json::array();
      if (count < min_runs) reasons.push_back(fmt::format("ran {} time{}, at least {} required", count, count == 1 ? "" : "s", min_runs));
      // With no run at all, "ran 0 times" says everything; the other reasons would repeat it.
      bool nothing_ran = count == 0 && !reasons.empty();
      if (passed < min_passed && !nothing_ran)
        reasons.push_back(fmt::format("{} passed, at least {} required", passed, min_passed));
      if (latest_must_pass && latest && latest->result != "PASSED")
        reasons.push_back(fmt::format("the latest run {} {}", latest->run_id, latest->result));
      if (latest_must_pass && !latest && !nothing_ran) reasons.push_back("no run, so no latest run that passed");
      bool window_passed = reasons.empty();
      rule_passed = rule_passed && window_passed;
      windows.push_back({{"from", format_timestamp(from)},
                         {"to", format_timestamp(to)},
                         {"runs", count},
                         {"passed", passed},
                         {"latest", latest ? run_summary(*latest) : nlohmann::json()},
                         {"result", window_passed ? "PASSED" : "FAILED"},
                         {"reasons", reasons}});
      from = to;
    }
    all_passed = all_passed && rule_passed;
    evaluated.push_back({{"name", rule.at("name")},
                         {"scenario", pattern},
                         {"requirement", requirement},
                         {"result", rule_passed ? "PASSED" : "FAILED"},
                         {"windows", windows}});
  }
  return {{"file", policy.value("file", "")},
          {"sha256", policy.value("sha256", "")},
          {"result", all_passed ? "PASSED" : "FAILED"},
          {"rules", evaluated}};
}

nlohmann::json load_controls(const fs::path& file) {
  auto root = load_yaml(file);
  check_version(file, root, "controls");
  static const std::set<std::string> known{"framework", "id", "title", "scenarios", "tags"};
  nlohmann::json controls = nlohmann::json::array();
  for (const auto& control : root["controls"]) {
    if (!control.IsMap()) bad_entry(file, control, "a control is a mapping (framework, id, title, scenarios, tags)");
    for (const auto& entry : control) {
      auto key = entry.first.as<std::string>();
      if (!known.count(key))
        bad_entry(file, entry.first,
                  fmt::format("unknown key '{}' (a control has framework, id, title, scenarios, tags)", key));
    }
    if (node_text(control["framework"]).empty() || node_text(control["id"]).empty())
      bad_entry(file, control, "a control needs a 'framework' and an 'id'");
    if (control["title"] && !control["title"].IsScalar()) bad_entry(file, control["title"], "'title' is text");
    auto scenarios = string_list(file, control["scenarios"], "scenarios");
    auto tags = string_list(file, control["tags"], "tags");
    if (scenarios.empty() && tags.empty())
      bad_entry(file, control, fmt::format("control {} {} names no scenarios and no tags", node_text(control["framework"]),
                                           node_text(control["id"])));
    controls.push_back({{"framework", node_text(control["framework"])},
                        {"id", node_text(control["id"])},
                        {"title", control["title"] ? node_text(control["title"]) : std::string()},
                        {"scenarios", scenarios},
                        {"tags", tags}});
  }
  return {{"file", file.string()}, {"sha256", sha256_file(file)}, {"controls", controls}};
}

nlohmann::json map_controls(const nlohmann::json& controls, const std::vector<RunRecord>& runs) {
  nlohmann::json mapped = nlohmann::json::array();
  for (const auto& control : controls.at("controls")) {
    std::map<std::string, nlohmann::json> evidence;
    std::size_t passed = 0, matched = 0;
    for (const auto& run : runs) {
      if (!run_matches(control.at("scenarios"), control.at("tags"), run)) continue;
      ++matched;
      if (run.result == "PASSED") ++passed;
      auto& entry = evidence[run.scenario];
      if (entry.is_null()) entry = {{"scenario", run.scenario}, {"runs", nlohmann::json::array()}, {"passed", 0}, {"failed", 0}};
      entry["runs"].push_back(run.run_id);
      entry[run.result == "PASSED" ? "passed" : "failed"] = entry[run.result == "PASSED" ? "passed" : "failed"].get<int>() + 1;
    }
    nlohmann::json evidence_list = nlohmann::json::array();
    for (auto& [scenario, entry] : evidence) evidence_list.push_back(entry);
    mapped.push_back({{"framework", control.at("framework")},
                      {"id", control.at("id")},
                      {"title", control.value("title", "")},
                      {"status", passed > 0 ? "evidenced" : matched > 0 ? "failed" : "missing"},
                      {"evidence", evidence_list}});
  }
  return {{"file", controls.value("file", "")}, {"sha256", controls.value("sha256", "")}, {"controls", mapped}};
}

}  // namespace firedrill::attestation
