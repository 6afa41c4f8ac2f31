#pragma once
// One writer thread's way of making a write, by its contract's kind: an HTTP request, SQL
// statements or a Redis command, each rendered from the contract's templates per write.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "checks/history.hpp"
#include "clients/redis_master.hpp"
#include "clients/workload/write_template.hpp"
#include "core/model.hpp"

namespace firedrill {

/// Where a writer writes and with what: its contract, the address of the service it reaches, the
/// credentials the harness holds for it.
struct WriteTarget {
  WriteRequestSpec request;
  std::string host = "127.0.0.1";
  int port = 0;                           // http, redis
  std::string conninfo;                   // sql
  std::optional<SentinelGroup> sentinel;  // redis: the group's current master, not host:port
  std::string password;                   // redis: AUTH with it (empty: none)
  std::chrono::milliseconds timeout{2000};
};

/// What one write came to: its outcome, a short reason when not ok, and the id the service gave
/// it when the contract takes the id from the answer (`id_from`).
struct WriteResult {
  WriteOutcome outcome = WriteOutcome::error;
  std::string error;
  std::string id_from_answer;
};

class RequestWriter {
 public:
  virtual ~RequestWriter() = default;
  virtual WriteResult write(const WriteVariables& variables) = 0;
};

/// A writer for one thread (each holds its own connection). Throws std::invalid_argument for a
/// contract the loader would have refused (an unknown kind, a template that does not compile).
std::unique_ptr<RequestWriter> make_request_writer(const WriteTarget& target);

/// Runs the contract's `setup` statements (sql), retrying for up to 10 s while the database does
/// not answer; throws std::runtime_error with the last error when it never did. Nothing to do
/// for other kinds.
void prepare_write_target(const WriteTarget& target);

}  // namespace firedrill
