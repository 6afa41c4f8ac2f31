#include "injectors/replication_lag.hpp"

#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace firedrill {
namespace {

constexpr auto sql_timeout = std::chrono::seconds(15);
constexpr auto take_effect_timeout = std::chrono::seconds(20);

// Runs each statement on its own (ALTER SYSTEM refuses a transaction block) inside the
// container, over its Unix socket, which the image trusts: no credentials needed.
ExecResult run_sql(Runtime& runtime, const std::string& service, const std::vector<std::string>& statements) {
  std::vector<std::string> argv = {
      "sh", "-c", R"(exec psql -X -tA -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d postgres "$@")", "psql"};
  for (const auto& statement : statements) {
    argv.push_back("-c");
    argv.push_back(statement);
  }
  return runtime.exec(service, argv, sql_timeout);
}

std::string query(Runtime& runtime, const std::string& service, const std::string& statement) {
  ExecResult result = run_sql(runtime, service, {statement});
  if (result.exit_code != 0)
    throw std::runtime_error(fmt::format("'{}' on '{}' failed: {}", statement, service, result.output));
  std::string text = result.output;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string mode_of(const StepSpec& step) {
  auto found = step.params.find("mode");
  return found == step.params.end() ? "stream" : found->second.text;
}

void undo(Runtime& runtime, const std::string& service, const std::string& mode) {
  if (!runtime.is_running(service)) return;
  if (mode == "replay")
    query(runtime, service, "SELECT pg_wal_replay_resume() WHERE pg_is_in_recovery()");
  else
    for (const char* statement : {"ALTER SYSTEM RESET primary_conninfo", "SELECT pg_reload_conf()"}) query(runtime, service, statement);
}

}  // namespace

VerbSpec ReplicationLagInjector::spec() {
  VerbSpec spec{"replication-lag",
                "Hold a Postgres standby behind its primary: stop its WAL stream (mode stream, the default: a "
                "failover loses the writes meanwhile) or pause its replay (mode replay).",
                true,
                {{"mode", ParamType::string, false, "stream (default) or replay"}}};
  spec.check_combination = [](const StepSpec& step) {
    const std::string mode = mode_of(step);
    if (mode != "stream" && mode != "replay")
      throw std::invalid_argument(fmt::format("unknown replication-lag mode '{}': expected stream or replay", mode));
  };
  return spec;
}

std::unique_ptr<ActiveFault> ReplicationLagInjector::inject(FaultContext& context, const StepSpec& step) {
  Runtime& runtime = context.runtime;
  const std::string service = step.target;
  const std::string mode = mode_of(step);
  if (query(runtime, service, "SELECT pg_is_in_recovery()") != "t")
    throw std::runtime_error(fmt::format("'{}' is not a standby (not in recovery): no replication to hold back", service));
  auto journal_id = context.journal_inverse({{"type", "replication-lag"}, {"service", service}, {"mode", mode}});
  std::string check;
  std::string expected;
  if (mode == "replay") {
    query(runtime, service, "SELECT pg_wal_replay_pause()");
    check = "SELECT pg_get_wal_replay_pause_state()";
    expected = "paused";
  } else {
    query(runtime, service, "ALTER SYSTEM SET primary_conninfo = ''");
    query(runtime, service, "SELECT pg_reload_conf()");
    check = "SELECT count(*) FROM pg_stat_wal_receiver";
    expected = "0";
  }
  const auto deadline = std::chrono::steady_clock::now() + take_effect_timeout;
  while (query(runtime, service, check) != expected) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error(fmt::format("'{}' did not hold its replication back within {}s", service,
                                           take_effect_timeout.count()));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::make_unique<JournalledFault>(context, journal_id, [&runtime, service, mode] { undo(runtime, service, mode); },
                                           nlohmann::json{{"mode", mode}});
}

namespace replication_lag {

void revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  undo(runtime, inverse.value("service", ""), inverse.value("mode", "stream"));
}

}  // namespace replication_lag
void ReplicationLagInjector::revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  replication_lag::revert_inverse(runtime, inverse);
}

}  // namespace firedrill
