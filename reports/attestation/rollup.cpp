#include "reports/attestation/rollup.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "reports/artifacts.hpp"
#include "reports/attestation/chain.hpp"
#include "reports/gate.hpp"

namespace firedrill::attestation {
namespace {

namespace fs = std::filesystem;

const char* const period_forms =
    "expected YYYY-MM (a month), YYYY-Qn (a quarter), YYYY (a year) or YYYY-MM-DD..YYYY-MM-DD (days, both included)";

std::int64_t utc_seconds(int year, int month, int day) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  return static_cast<std::int64_t>(::timegm(&tm));
}

std::tm utc_tm(std::int64_t seconds) {
  auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return tm;
}

// The first instant of the month `months` after the month holding seconds.
std::int64_t add_months(std::int64_t seconds, int months) {
  auto tm = utc_tm(seconds);
  int index = tm.tm_mon + months;
  return utc_seconds(tm.tm_year + 1900 + index / 12, index % 12 + 1, 1);
}

std::int64_t parse_day(const std::string& text, std::string_view whole) {
  static const std::regex day_form(R"((\d{4})-(\d{2})-(\d{2}))");
  std::smatch match;
  if (!std::regex_match(text, match, day_form))
    throw RollupInputError(fmt::format("period '{}': '{}' is not a day YYYY-MM-DD; {}", whole, text, period_forms));
  int year = std::stoi(match[1]), month = std::stoi(match[2]), day = std::stoi(match[3]);
  auto seconds = utc_seconds(year, month, day);
  auto tm = utc_tm(seconds);
  if (month < 1 || month > 12 || tm.tm_mday != day || tm.tm_mon != month - 1)
    throw RollupInputError(fmt::format("period '{}': {} is not a day of the calendar", whole, text));
  return seconds;
}

std::string node_text(const YAML::Node& node) {
  return node.IsScalar() ? node.as<std::string>() : std::string();
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

nlohmann::json statistics(const std::vector<double>& values, const nlohmann::json& target) {
  auto distribution = distribution_of(values);
  if (!distribution) return {{"count", 0}, {"target", target}, {"met", nullptr}};
  nlohmann::json figure = {{"count", distribution->count}, {"min", distribution->min},
                           {"median", distribution->median}, {"p95", distribution->p95},
                           {"max", distribution->max}, {"target", target}};
  figure["met"] = target.is_number() ? nlohmann::json(distribution->max <= target.get<double>()) : nlohmann::json();
  return figure;
}

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


std::string md_cell(const nlohmann::json& value) {
  if (value.is_null()) return "–";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) return fmt::format("{:.3f}", value.get<double>());
  return value.dump();
}

std::string md_seconds(const nlohmann::json& figure, const char* statistic) {
  auto value = at_path(figure, {statistic});
  return value.is_number() ? fmt::format("{:.3f} s", value.get<double>()) : "–";
}

std::string md_target(const nlohmann::json& figure) {
  auto target = md_seconds(figure, "target");
  return at_path(figure, {"met"}) == false ? target + " **missed**" : target;
}

}  // namespace

Period parse_period(std::string_view text) {
  std::string value(text);
  static const std::regex year_form(R"((\d{4}))"), month_form(R"((\d{4})-(\d{2}))"),
      quarter_form(R"((\d{4})-[Qq]([1-4]))"), range_form(R"(([^.]*)\.\.([^.]*))");
  std::smatch match;
  Period period;
  period.label = value;
  if (std::regex_match(value, match, year_form)) {
    period.from = utc_seconds(std::stoi(match[1]), 1, 1);
    period.to = add_months(period.from, 12);
  } else if (std::regex_match(value, match, month_form)) {
    int month = std::stoi(match[2]);
    if (month < 1 || month > 12)
      throw RollupInputError(fmt::format("period '{}': month {} is not 01..12", value, match[2].str()));
    period.from = utc_seconds(std::stoi(match[1]), month, 1);
    period.to = add_months(period.from, 1);
  } else if (std::regex_match(value, match, quarter_form)) {
    period.from = utc_seconds(std::stoi(match[1]), (std::stoi(match[2]) - 1) * 3 + 1, 1);
    period.to = add_months(period.from, 3);
  } else if (std::regex_match(value, match, range_form)) {
    period.from = parse_day(match[1], value);
    period.to = parse_day(match[2], value) + 24 * 3600;
    if (period.to <= period.from)
      throw RollupInputError(fmt::format("period '{}': ends before it starts", value));
  } else {
    throw RollupInputError(fmt::format("period '{}' not understood: {}", value, period_forms));
  }
  return period;
}

std::optional<std::int64_t> parse_timestamp(std::string_view text) {
  static const std::regex form(
      R"((\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2})))");
  std::string value(text);
  std::smatch match;
  if (!std::regex_match(value, match, form)) return std::nullopt;
  int month = std::stoi(match[2]), day = std::stoi(match[3]);
  int hour = std::stoi(match[4]), minute = std::stoi(match[5]), second = std::stoi(match[6]);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  auto seconds = utc_seconds(std::stoi(match[1]), month, day) + hour * 3600 + minute * 60 + second;
  if (match[9].matched) {
    auto offset = std::stoi(match[10]) * 3600 + std::stoi(match[11]) * 60;
    seconds += match[9] == "+" ? -offset : offset;
  }
  return seconds;
}

std::string format_timestamp(std::int64_t seconds) {
  auto tm = utc_tm(seconds);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

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

std::string rollup_markdown(const nlohmann::json& statement) {
  const auto& p = statement.at("predicate");
  std::string md;
  md += fmt::format("# Drill roll-up {}: {}\n\n", p["period"]["label"].get<std::string>(), p["result"].get<std::string>());
  md += fmt::format("Period {} to {} (end excluded). {} runs included ({} passed, {} failed), {} excluded.\n\n",
                    p["period"]["from"].get<std::string>(), p["period"]["to"].get<std::string>(),
                    md_cell(p["totals"]["runs"]), md_cell(p["totals"]["passed"]), md_cell(p["totals"]["failed"]),
                    md_cell(p["totals"]["excluded"]));
  auto signer = at_path(p, {"signer", "keyid"});
  md += signer.is_string() && !signer.get<std::string>().empty()
            ? fmt::format("Signed by key `{}` (predicate `{}`).\n\n", signer.get<std::string>(), rollup_predicate_type)
            : std::string("**Not signed.**\n\n");

  md += "## Scenarios\n\n| scenario | runs | passed | failed | warned | RTO min / median / p95 / max | RTO target | RPO max | RPO target | last run |\n";
  md += "|---|---:|---:|---:|---:|---|---:|---:|---:|---|\n";
  for (const auto& [name, s] : p["scenarios"].items())
    md += fmt::format("| {} | {} | {} | {} | {} | {} / {} / {} / {} | {} | {} | {} | {} ({}) |\n", name, md_cell(s["runs"]),
                      md_cell(s["passed"]), md_cell(s["failed"]), md_cell(s["warned"]), md_seconds(s["rto_seconds"], "min"),
                      md_seconds(s["rto_seconds"], "median"), md_seconds(s["rto_seconds"], "p95"),
                      md_seconds(s["rto_seconds"], "max"), md_target(s["rto_seconds"]),
                      md_seconds(s["rpo_seconds"], "max"), md_target(s["rpo_seconds"]),
                      md_cell(s["last_run"]["run_id"]), md_cell(s["last_run"]["result"]));
  if (p["scenarios"].empty()) md += "| (no runs in the period) | | | | | | | | | |\n";

  if (p["policy"].is_object()) {
    md += fmt::format("\n## Policy: {}\n\n`{}`\n\n| rule | requirement | result | why |\n|---|---|---|---|\n",
                      p["policy"]["result"].get<std::string>(), p["policy"]["file"].get<std::string>());
    for (const auto& rule : p["policy"]["rules"]) {
      std::vector<std::string> why;
      for (const auto& window : rule["windows"])
        for (const auto& reason : window["reasons"])
          why.push_back(fmt::format("{}: {}", window["from"].get<std::string>().substr(0, 10), reason.get<std::string>()));
      md += fmt::format("| {} | {} `{}` | {} | {} |\n", md_cell(rule["name"]), md_cell(rule["requirement"]),
                        md_cell(rule["scenario"]), md_cell(rule["result"]), why.empty() ? "–" : fmt::format("{}", fmt::join(why, "; ")));
    }
  }
  if (p["controls"].is_object()) {
    md += fmt::format("\n## Controls\n\n`{}` (an editable mapping)\n\n| framework | control | status | evidence |\n|---|---|---|---|\n",
                      p["controls"]["file"].get<std::string>());
    for (const auto& control : p["controls"]["controls"]) {
      std::vector<std::string> evidence;
      for (const auto& entry : control["evidence"])
        evidence.push_back(fmt::format("{}: {}", entry["scenario"].get<std::string>(),
                                       fmt::join(entry["runs"].get<std::vector<std::string>>(), ", ")));
      md += fmt::format("| {} | {} {} | {} | {} |\n", md_cell(control["framework"]), md_cell(control["id"]),
                        md_cell(control["title"]), md_cell(control["status"]),
                        evidence.empty() ? "–" : fmt::format("{}", fmt::join(evidence, "; ")));
    }
  }
  md += "\n## Excluded runs\n\n";
  if (p["excluded"].empty()) md += "None: every run of the period verified.\n";
  for (const auto& run : p["excluded"])
    md += fmt::format("- `{}` ({}{}): {}\n", md_cell(run["attestation"]), md_cell(run["run_id"]),
                      run.value("period", "") == "unknown" ? ", period unknown" : "", md_cell(run["reason"]));
  md += "\n## Evidence chains\n\n";
  for (const auto& chain : p["chains"]) {
    auto head_seq = at_path(chain, {"head", "seq"});
    auto head = head_seq.is_number() && head_seq.get<std::size_t>() > 0
                    ? fmt::format("; signed head: entry {} `{}`", md_cell(head_seq), md_cell(at_path(chain, {"head", "hash"})))
                    : std::string();
    md += fmt::format("- `{}`: {}{}\n", md_cell(chain["directory"]),
                      chain["valid"].get<bool>() ? fmt::format("intact, {} entries", md_cell(chain["entries"]))
                                                 : fmt::format("BROKEN: {}", md_cell(chain["reason"])),
                      head);
  }
  md += "\nA chain is checked against this head by `firedrill verify` with `--artifacts`: runs removed from the end "
        "of a chain together with their entries are caught only by a head kept outside the runs directory, such as "
        "this roll-up.\n";
  md += "\n## Included runs\n\n| run | scenario | started | result | attestation (sha256 in the roll-up) |\n|---|---|---|---|---|\n";
  for (const auto& run : p["included"])
    md += fmt::format("| {} | {} | {} | {} | `{}` |\n", md_cell(run["run_id"]), md_cell(run["scenario"]),
                      md_cell(run["started_at"]), md_cell(run["result"]), md_cell(run["attestation"]));
  md += "\nVerify offline: `firedrill verify ROLLUP --key PUB --artifacts ROOT --deep`, where ROOT is the directory the "
        "attestation paths above are relative to; or check the DSSE signature over the PAE bytes with any Ed25519 / "
        "ECDSA P-256 verifier and each attestation's SHA-256 with `sha256sum`.\n";
  return md;
}

fs::path markdown_path(const fs::path& rollup_file) {
  // A roll-up named *.md keeps its name; the summary must not overwrite it.
  if (rollup_file.extension() == ".md") return fs::path(rollup_file.string() + ".md");
  auto path = rollup_file;
  return path.replace_extension(".md");
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
