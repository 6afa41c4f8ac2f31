#include "harness/services/registry.hpp"

#include "harness/services/container.hpp"
#include "harness/services/postgres.hpp"
#include "harness/services/kinds.hpp"

namespace firedrill {

std::unique_ptr<Service> make_service(const ServiceSpec& spec) {
  if (const ServiceKind* kind = find_service_kind(spec.kind)) return kind->make(spec);
  return std::make_unique<ContainerService>(spec);
}

std::string GeneratedSecrets::make() { return secrets_.emplace_back(random_secret()); }

std::vector<ExpandedService> expand_service(const ServiceSpec& declared, GeneratedSecrets& secrets) {
  const ServiceKind* kind = find_service_kind(declared.kind);
  if (kind && kind->expand) return kind->expand(declared, secrets);
  return {{declared, ""}};
}

Scenario with_derived_services(const Scenario& declared) {
  Scenario expanded = declared;
  expanded.services.clear();
  GeneratedSecrets secrets;
  for (const auto& service : declared.services)
    for (auto& part : expand_service(service, secrets)) expanded.services.push_back(std::move(part.spec));
  for (auto& service : expanded.services)
    if (const ServiceKind* kind = find_service_kind(service.kind); kind && kind->attach)
      kind->attach(service, expanded.services, secrets);
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
