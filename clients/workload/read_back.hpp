#pragma once
// Finding a writer's writes again after recovery, by its read-back contract: a SQL query (the ids
// asked in batches, or every id), HTTP (one GET per id, or a paged list) or Redis (a command per
// id, pipelined, or a SCAN of the writer's keys). Bounded in time; what it finds is kept only
// when the writer sent it.
#include <optional>
#include <string>
#include <vector>

#include "checks/measure/analysis.hpp"
#include "clients/redis_master.hpp"
#include "core/clock.hpp"
#include "core/model.hpp"

namespace firedrill {

/// Where a read-back reads and with what.
struct ReadBackTarget {
  ReadBackSpec spec;
  std::string writer;     // the writer's name: its entry in the result
  std::string id_prefix;  // redis SCAN: the writer's ids are <id_prefix>-<writer>-<n>
  std::string host = "127.0.0.1";
  int port = 0;
  std::string conninfo;
  std::optional<SentinelGroup> sentinel;
  std::string password;
};

/// How long a read-back may take when its contract does not say.
inline constexpr std::chrono::seconds default_read_back_timeout{60};

/// The ids among `ids` (every id the writer's acks name) that the service still holds, read at
/// the time `t` of the result. Throws std::runtime_error saying why when the read-back cannot
/// run to its end (a query error, an unexpected status, no answer in time): the writes are then
/// not known to be there or lost.
WriterReadback read_back_writes(const ReadBackTarget& target, const std::vector<std::string>& ids,
                                const Clock& clock = real_clock());

}  // namespace firedrill
