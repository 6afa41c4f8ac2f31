#pragma once
// What the engine and the loader ask of a service's kind (kinds.hpp): the class
// that serves it, the services it derives.
#include <filesystem>
#include <memory>
#include <vector>

#include "harness/services/derived.hpp"
#include "harness/services/service.hpp"

namespace firedrill {

/// Builds the Service of a spec's kind (ServiceKind::make).
std::unique_ptr<Service> make_service(const ServiceSpec& spec);

/// A declared service as it runs (ServiceKind::expand), followed by the services it derives (its standbys; its replicas
/// and sentinels; a Patroni cluster's etcd and members before it), in the order they are listed.
std::vector<ExpandedService> expand_service(const ServiceSpec& declared, GeneratedSecrets& secrets);

/// A scenario of declared services expanded as the loader expands it: each service by
/// expand_service, then each kind's `attach` (a pool or load balancer takes its backend's login;
/// throws ServiceKeyError), the generated passwords in Scenario::generated_secrets. An expanded scenario
/// must not be expanded again: every service would be derived twice.
Scenario with_derived_services(const Scenario& declared);

/// The scenario with every password the loader generated replaced by a new one, wherever a
/// service's environment holds it: what each run starts from, so runs of one loaded scenario
/// share no generated password.
Scenario with_fresh_secrets(const Scenario& scenario);

/// The declared service as this run starts it: with what its kind needs for the scenario's steps
/// (a postgres whose base backups or point-in-time restores the steps take archives its WAL
/// into their repository from the start).
ServiceSpec prepared_for_run(const Scenario& scenario, const ServiceSpec& declared,
                             const std::filesystem::path& run_directory);

}  // namespace firedrill
