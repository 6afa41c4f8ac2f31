#pragma once
// Where a point-in-time restore stops, from a `restore` step's `to` or `before` parameter and
// the run's events so far, and what a WAL archive must hold to get there.
#include <cstdint>
#include <string>
#include <vector>

#include "checks/history.hpp"

namespace firedrill {

struct RecoveryTarget {
  enum class Kind {
    end_of_archive,  // replay every archived segment
    time,            // keep what committed before `time`, nothing at or after it
    transaction,     // keep what committed before transaction `xid`, not it nor anything after
  };
  Kind kind = Kind::end_of_archive;
  Micros time = 0;        // time: the target; transaction: when that transaction committed
  std::uint64_t xid = 0;  // transaction: its 32-bit id
  std::string description;  // how the step wrote it, with the instant it stands for
};

/// Checks a `to` text without a history, as `validate` can: "incident", "incident - 2s",
/// "incident + 500ms" (any scenario duration) or an RFC 3339 time with a zone. Throws
/// std::invalid_argument saying what is accepted.
void check_recovery_target_text(const std::string& target);

/// Resolves `to` (the text in `target`; see check_recovery_target_text; "incident" is T0, the incident event's
/// time) or `before` (a step's name: the transaction its `sql` action ran when it recorded one,
/// else the instant the step started) against the run's events. Neither: end_of_archive.
/// Throws ActionFailed when both are given, the text is malformed, there is no incident yet or
/// the step has not started in this run.
RecoveryTarget resolve_recovery_target(const std::string& target, const std::string& before,
                                       const std::vector<Event>& events);

/// The recovery settings (postgresql.conf lines) that make a server replay the archive to the
/// target and then promote itself; `restore_command` fetches a segment (%f) into %p. Throws
/// std::invalid_argument for a value with a control character (a line break would end the line).
std::string recovery_settings(const RecoveryTarget& target, const std::string& restore_command);

/// The WAL segment after `segment` (24 hex digits: timeline, log, segment of 16 MB files).
/// Throws std::invalid_argument for anything else.
std::string next_wal_segment(const std::string& segment);

/// The segments of `first`'s timeline missing from `archived` (file names; other files and
/// timelines ignored) between `first` and the newest archived one of that timeline, oldest
/// first. Empty when the archive holds them all, or holds none from `first` on.
std::vector<std::string> missing_wal_segments(const std::vector<std::string>& archived, const std::string& first);

}  // namespace firedrill
