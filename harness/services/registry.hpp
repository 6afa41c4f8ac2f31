#pragma once
// Which class serves a declared service: one line per kind in registry.cpp.
#include <filesystem>
#include <memory>

#include "harness/services/service.hpp"

namespace firedrill {

/// Builds the Service of a spec's kind.
std::unique_ptr<Service> make_service(const ServiceSpec& spec);

/// The declared service as this run starts it: with what its kind needs for the scenario's steps
/// (a postgres whose base backups or point-in-time restores the steps take archives its WAL
/// into their repository from the start).
ServiceSpec prepared_for_run(const Scenario& scenario, const ServiceSpec& declared,
                             const std::filesystem::path& run_directory);

}  // namespace firedrill
