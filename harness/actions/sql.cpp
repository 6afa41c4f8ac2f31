#include "harness/actions/sql.hpp"

#include <memory>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "harness/actions/backup_repository.hpp"
#include "harness/services/connection_string.hpp"
#include "harness/services/service.hpp"

namespace firedrill {

VerbSpec SqlAction::spec() {
  return {"sql",
          "Run one SQL statement in its own transaction on the target postgres (a destructive step, a migration, a repair).",
          true,
          {{"sql", ParamType::string, true, "the statement, e.g. DROP TABLE orders"},
           {"database", ParamType::string, false, "database to run it in, default the service's"},
           {"expect_error", ParamType::string, false,
            "the statement must fail with an error containing this text (a detection step), e.g. invalid page"}}};
}

nlohmann::json SqlAction::run(ActionContext& context, const StepSpec& step) {
  const Service* service = context.service(step.target);
  if (service == nullptr || service->spec().kind != "postgres")
    throw ActionFailed(fmt::format("'{}' is not a postgres service of this scenario; sql runs on postgres", step.target));
  const std::string statement = step.param_text("sql");
  std::string conninfo = service->harness_conninfo(context.runtime.inspect(step.target));
  const std::string database = step.param_text("database");
  // libpq takes the last value of a repeated keyword.
  if (!database.empty()) conninfo += " dbname=" + conninfo_value(database);
  const std::string expected_error = step.param_text("expect_error");
  const Micros started = context.clock.now();
  try {
    // A server that was just started (by a fault, a restore) may refuse connections for a moment.
    const Micros connect_deadline = started + std::chrono::duration_cast<std::chrono::microseconds>(
                                                  step_timeout(step, std::chrono::seconds(10))).count();
    std::unique_ptr<pqxx::connection> connected;
    while (!connected) {
      try {
        connected = std::make_unique<pqxx::connection>(conninfo);
      } catch (const pqxx::broken_connection&) {
        if (context.clock.now() >= connect_deadline) throw;
        context.clock.sleep_for(std::chrono::milliseconds(100));
      }
    }
    pqxx::connection& connection = *connected;
    pqxx::work transaction(connection);
    const auto xid = transaction.exec1("SELECT (txid_current() % 4294967296)::bigint")[0].as<long long>();
    const pqxx::result result = transaction.exec(statement);
    transaction.commit();
    const Micros committed = context.clock.now();
    if (!expected_error.empty())
      throw ActionFailed(fmt::format("'{}' on '{}' succeeded; it was expected to fail with '{}'", statement, step.target,
                                     expected_error));
    const std::string used = database.empty() ? postgres_login(conninfo).database : database;
    context.events.record(sql_executed_event, {{"step", step.name},
                                               {"service", step.target},
                                               {"database", used},
                                               {"xid", xid},
                                               {"committed_at", rfc3339(committed)}});
    return {{"database", used},
            {"xid", xid},
            {"rows_affected", result.affected_rows()},
            {"rows_returned", result.size()},
            {"duration_seconds", seconds_between(started, committed)}};
  } catch (const pqxx::failure& failure) {
    const std::string error = without_trailing_newlines(failure.what());
    if (!expected_error.empty() && error.find(expected_error) != std::string::npos) {
      context.events.record("sql.failed_as_expected", {{"step", step.name}, {"service", step.target}, {"error", error}});
      return {{"error", error}, {"duration_seconds", seconds_between(started, context.clock.now())}};
    }
    throw ActionFailed(fmt::format("'{}' on '{}' failed: {}", statement, step.target, without_trailing_newlines(failure.what())));
  }
}

}  // namespace firedrill
