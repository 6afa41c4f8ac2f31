#include "harness/actions/recovery_target.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/utf8.hpp"
#include "harness/actions/action.hpp"

namespace firedrill {
namespace {

constexpr const char* accepted_targets =
    "expected \"incident\", \"incident - <duration>\", \"incident + <duration>\" (e.g. incident - 2s) or an RFC 3339 "
    "time such as 2026-11-25T12:00:00Z";

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

/// A parsed `target` text: relative to the incident (offset) or absolute.
struct TargetText {
  bool relative = false;
  Micros offset = 0;    // relative: added to T0
  Micros absolute = 0;  // otherwise
};

TargetText parse_target_text(const std::string& text) {
  const std::string target = trimmed(text);
  TargetText parsed;
  if (target.starts_with("incident")) {
    parsed.relative = true;
    const std::string rest = trimmed(target.substr(8));
    if (rest.empty()) return parsed;
    if (rest[0] != '-' && rest[0] != '+')
      throw std::invalid_argument(fmt::format("recovery target '{}': {}", text, accepted_targets));
    try {
      const Micros amount = parse_duration(trimmed(rest.substr(1))).count();
      parsed.offset = rest[0] == '-' ? -amount : amount;
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument(fmt::format("recovery target '{}': {}", text, error.what()));
    }
    return parsed;
  }
  // parse_rfc3339 reads a bare date-time as UTC; a target must say its zone.
  const bool zoned = !target.empty() && (target.back() == 'Z' || target.back() == 'z' ||
                                         (target.size() > 6 && (target[target.size() - 6] == '+' || target[target.size() - 6] == '-')));
  try {
    if (!zoned) throw std::invalid_argument("no zone");
    parsed.absolute = parse_rfc3339(target);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(fmt::format("recovery target '{}': {}", text, accepted_targets));
  }
  return parsed;
}

std::string names_of_started_steps(const std::vector<Event>& events) {
  std::vector<std::string> names;
  for (const auto& event : events)
    if (event.kind == event_kind::step_started) names.push_back(fmt::format("'{}'", event.details.value("step", "")));
  return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}

bool is_segment_name(const std::string& name) {
  return name.size() == 24 && std::all_of(name.begin(), name.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) != 0 || (c >= 'A' && c <= 'F');
         });
}

}  // namespace

void check_recovery_target_text(const std::string& target) { parse_target_text(target); }

RecoveryTarget resolve_recovery_target(const std::string& target, const std::string& before,
                                       const std::vector<Event>& events) {
  RecoveryTarget resolved;
  if (!target.empty() && !before.empty())
    throw ActionFailed(fmt::format("give either to ('{}') or before ('{}'), not both", target, before));
  if (!target.empty()) {
    TargetText parsed;
    try {
      parsed = parse_target_text(target);
    } catch (const std::invalid_argument& error) {
      throw ActionFailed(error.what());
    }
    resolved.kind = RecoveryTarget::Kind::time;
    if (!parsed.relative) {
      resolved.time = parsed.absolute;
    } else {
      const auto incident = std::find_if(events.begin(), events.end(),
                                         [](const Event& event) { return event.kind == event_kind::incident; });
      if (incident == events.end())
        throw ActionFailed(fmt::format("recovery target '{}' is relative to the incident, which has not happened yet", target));
      resolved.time = incident->t + parsed.offset;
    }
    resolved.description = fmt::format("{} ({})", trimmed(target), format_rfc3339_micros(resolved.time));
    return resolved;
  }
  if (!before.empty()) {
    const auto started = std::find_if(events.begin(), events.end(), [&](const Event& event) {
      return event.kind == event_kind::step_started && event.details.value("step", "") == before;
    });
    if (started == events.end())
      throw ActionFailed(fmt::format("before: step '{}' has not started in this run (steps so far: {})", before,
                                     names_of_started_steps(events)));
    // The first sql.executed event of that step after it started: the transaction to stop before.
    const auto executed = std::find_if(started, events.end(), [&](const Event& event) {
      return event.kind == "sql.executed" && event.details.value("step", "") == before && event.details.contains("xid");
    });
    if (executed != events.end()) {
      resolved.kind = RecoveryTarget::Kind::transaction;
      resolved.xid = executed->details.at("xid").get<std::uint64_t>();
      resolved.time = executed->t;
      resolved.description = fmt::format("before step '{}' (just before its transaction {}, committed at {})", before,
                                          resolved.xid, format_rfc3339_micros(resolved.time));
    } else {
      resolved.kind = RecoveryTarget::Kind::time;
      resolved.time = started->t;
      resolved.description = fmt::format("before step '{}' (started at {})", before, format_rfc3339_micros(resolved.time));
    }
    return resolved;
  }
  resolved.description = "the end of the WAL archive";
  return resolved;
}

std::string recovery_settings(const RecoveryTarget& target, const std::string& restore_command) {
  const auto quoted = [](const std::string& value) {
    // The settings go into a shell heredoc and postgresql.auto.conf, one per line: a line break
    // in a value would end either early.
    if (has_control_character(value))
      throw std::invalid_argument(fmt::format("a recovery setting may not hold control characters: {}", nlohmann::json(value).dump()));
    std::string text = "'";
    for (char c : value) text += c == '\'' ? std::string("''") : std::string(1, c);
    return text + "'";
  };
  std::string settings = fmt::format("restore_command = {}\n", quoted(restore_command));
  if (target.kind == RecoveryTarget::Kind::end_of_archive) return settings;
  if (target.kind == RecoveryTarget::Kind::time) {
    // recovery_target_time takes "2026-11-25 12:00:10.000000+00", not the RFC 3339 'T' and 'Z'.
    std::string time = format_rfc3339_micros(target.time);
    time[10] = ' ';
    time.replace(time.size() - 1, 1, "+00");
    settings += fmt::format("recovery_target_time = {}\n", quoted(time));
  }
  else
    settings += fmt::format("recovery_target_xid = '{}'\n", target.xid);
  settings += "recovery_target_inclusive = off\nrecovery_target_action = 'promote'\n";
  return settings;
}

std::string next_wal_segment(const std::string& segment) {
  if (!is_segment_name(segment)) throw std::invalid_argument(fmt::format("'{}' is not a WAL segment name", segment));
  unsigned long log = std::stoul(segment.substr(8, 8), nullptr, 16);
  unsigned long number = std::stoul(segment.substr(16, 8), nullptr, 16);
  // With 16 MB segments a log holds 256 of them.
  if (++number == 0x100) {
    number = 0;
    ++log;
  }
  return fmt::format("{}{:08X}{:08X}", segment.substr(0, 8), log, number);
}

std::vector<std::string> missing_wal_segments(const std::vector<std::string>& archived, const std::string& first) {
  if (!is_segment_name(first)) throw std::invalid_argument(fmt::format("'{}' is not a WAL segment name", first));
  std::set<std::string> present;
  for (const auto& name : archived) {
    // A complete segment is stored as <name>.gz; <name>.partial.gz (the end of an old timeline)
    // and history or backup-label files are not segments of it.
    const std::string segment = name.ends_with(".gz") ? name.substr(0, name.size() - 3) : name;
    if (is_segment_name(segment) && segment.substr(0, 8) == first.substr(0, 8) && segment >= first) present.insert(segment);
  }
  std::vector<std::string> missing;
  if (present.empty()) return missing;
  const std::string& newest = *present.rbegin();
  for (std::string segment = first; segment < newest; segment = next_wal_segment(segment))
    if (!present.count(segment)) missing.push_back(segment);
  return missing;
}

}  // namespace firedrill
