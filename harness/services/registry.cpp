#include "harness/services/registry.hpp"

#include "harness/services/app.hpp"
#include "harness/services/container.hpp"
#include "harness/services/patroni.hpp"
#include "harness/services/postgres.hpp"
#include "harness/services/redis.hpp"
#include "harness/services/sentinel.hpp"
#include "harness/services/standby.hpp"

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

std::string GeneratedSecrets::make() { return secrets_.emplace_back(random_secret()); }

std::vector<ExpandedService> expand_service(const ServiceSpec& declared, GeneratedSecrets& secrets) {
  if (declared.kind == "postgres" && declared.ha == "patroni") return patroni_cluster_services(declared, secrets);
  if (declared.kind == "postgres" && declared.standbys > 0) return with_standbys(declared, secrets);
  if (declared.kind == "redis" && declared.sentinels > 0) return with_replicas_and_sentinels(declared, secrets);
  return {{declared, ""}};
}

Scenario with_derived_services(const Scenario& declared) {
  Scenario expanded = declared;
  expanded.services.clear();
  GeneratedSecrets secrets;
  for (const auto& service : declared.services)
    for (auto& part : expand_service(service, secrets)) expanded.services.push_back(std::move(part.spec));
  expanded.generated_secrets = secrets.all();
  return expanded;
}

Scenario with_fresh_secrets(const Scenario& scenario) {
  Scenario fresh = scenario;
  fresh.generated_secrets.clear();
  for (const auto& old_secret : scenario.generated_secrets) {
    const std::string new_secret = fresh.generated_secrets.emplace_back(random_secret());
    for (auto& service : fresh.services)
      for (auto& [key, value] : service.env)
        for (auto at = value.find(old_secret); at != std::string::npos; at = value.find(old_secret, at + new_secret.size()))
          value.replace(at, old_secret.size(), new_secret);
  }
  return fresh;
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
