#include "harness/services/registry.hpp"

#include "harness/services/app.hpp"
#include "harness/services/container.hpp"
#include "harness/services/patroni.hpp"
#include "harness/services/postgres.hpp"
#include "harness/services/redis.hpp"
#include "harness/services/sentinel.hpp"

namespace firedrill {

std::unique_ptr<Service> make_service(const ServiceSpec& spec) {
  if (spec.kind == "postgres" && spec.ha == "patroni") return std::make_unique<PatroniClusterService>(spec);
  if (spec.kind == "postgres" && !spec.member_of.empty()) return std::make_unique<PatroniMemberService>(spec);
  if (spec.kind == "container" && !spec.member_of.empty()) return std::make_unique<EtcdService>(spec);
  if (spec.kind == "postgres") return std::make_unique<PostgresService>(spec);
  if (spec.kind == "redis") return std::make_unique<RedisService>(spec);
  if (spec.kind == "sentinel") return std::make_unique<SentinelService>(spec);
  if (spec.kind == "app") return std::make_unique<AppService>(spec);
  return std::make_unique<ContainerService>(spec);
}

ServiceSpec prepared_for_run(const Scenario& scenario, const ServiceSpec& declared,
                             const std::filesystem::path& run_directory) {
  ServiceSpec spec = declared;
  if (auto repository = wal_archive_repository(scenario, spec, run_directory)) {
    spec.env[wal_archive_repository_env] = repository->string();
    if (archives_wal_with_pgbackrest(scenario, spec)) spec.env[wal_archiver_env] = "pgbackrest";
  }
  return spec;
}

}  // namespace firedrill
