#include "harness/services/kinds.hpp"

#include <map>

#include "core/vocabulary.hpp"
#include "harness/services/app.hpp"
#include "harness/services/container.hpp"
#include "harness/services/haproxy.hpp"
#include "harness/services/pgbouncer.hpp"
#include "harness/services/postgres.hpp"
#include "harness/services/redis.hpp"
#include "harness/services/sentinel.hpp"

namespace firedrill {

const std::vector<ServiceKind>& service_kinds() {
  static const std::vector<ServiceKind> kinds = [] {
    std::vector<ServiceKind> all;
    std::map<std::string, bool> registered;
    // One line a kind, in the order the loader's messages list them.
    for (ServiceKind kind : {
             PostgresService::kind(),
             RedisService::kind(),
             AppService::kind(),
             ContainerService::kind(),
             PgBouncerService::kind(),
             HAProxyService::kind(),
             SentinelService::kind(),
         }) {
      register_unique(registered, kind.name, true, "service kind");
      all.push_back(std::move(kind));
    }
    return all;
  }();
  return kinds;
}
const ServiceKind* find_service_kind(const std::string& name) {
  for (const auto& kind : service_kinds())
    if (kind.name == name) return &kind;
  return nullptr;
}

}  // namespace firedrill
