#pragma once
// The registry of service kinds (postgres, redis, app, container, pgbouncer, haproxy, and the
// sentinels redis derives); what a kind is, in service_kind.hpp.
#include <string>
#include <vector>

#include "harness/services/service_kind.hpp"

namespace firedrill {

/// The kinds in the order kinds.cpp registers them (the order the loader's messages list them).
const std::vector<ServiceKind>& service_kinds();

/// The kind named `name`, or nullptr.
const ServiceKind* find_service_kind(const std::string& name);

}  // namespace firedrill
