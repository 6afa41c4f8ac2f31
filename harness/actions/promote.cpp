#include "harness/actions/promote.hpp"

#include <pqxx/pqxx>

#include <fmt/format.h>

#include "harness/services/service.hpp"

namespace firedrill {
namespace {

constexpr auto default_timeout = std::chrono::seconds(60);
constexpr auto poll_interval = std::chrono::milliseconds(20);

bool in_recovery(pqxx::connection& connection) {
  pqxx::nontransaction query(connection);
  return query.exec1("SELECT pg_is_in_recovery()")[0].as<bool>();
}

}  // namespace

VerbSpec PromoteAction::spec() {
  return {"promote",
          "Promote the target Postgres standby to primary and wait until it leaves recovery.",
          true,
          {}};
}

nlohmann::json PromoteAction::run(ActionContext& context, const StepSpec& step) {
  const Service* service = context.service(step.target);
  if (!service || service->spec().kind != "postgres")
    throw ActionFailed(fmt::format("'{}' is not a postgres service; promote needs a standby", step.target));
  const std::string conninfo = service->harness_conninfo(context.runtime.inspect(step.target));
  const auto timeout = step.timeout.value_or(std::chrono::duration_cast<Duration>(default_timeout));
  try {
    pqxx::connection connection(conninfo);
    if (!in_recovery(connection))
      throw ActionFailed(fmt::format("'{}' is not a standby (it is not in recovery); there is nothing to promote", step.target));
    const Micros requested = context.events.record("promote.requested", {{"service", step.target}});
    {
      pqxx::nontransaction promote(connection);
      if (!promote.exec1("SELECT pg_promote(false)")[0].as<bool>())
        throw ActionFailed(fmt::format("'{}' refused to promote", step.target));
    }
    const Micros deadline = requested + timeout.count();
    while (in_recovery(connection)) {
      if (context.clock.now() > deadline)
        throw ActionFailed(fmt::format("'{}' was still in recovery {}s after the promotion was requested", step.target,
                                       static_cast<double>(timeout.count()) / 1e6));
      context.clock.sleep_for(poll_interval);
    }
    const Micros completed = context.clock.now();
    const double seconds = static_cast<double>(completed - requested) / 1e6;
    context.events.record("promote.completed", {{"service", step.target}, {"seconds", seconds}});
    return {{"promoted", step.target}, {"seconds", seconds}};
  } catch (const pqxx::failure& error) {
    throw ActionFailed(fmt::format("could not promote '{}': {}", step.target, error.what()));
  }
}

}  // namespace firedrill
