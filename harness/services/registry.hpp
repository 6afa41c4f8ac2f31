#pragma once
// Which class serves a declared service: one line per kind in registry.cpp.
#include <memory>

#include "harness/services/service.hpp"

namespace firedrill {

/// Builds the Service of a spec's kind.
std::unique_ptr<Service> make_service(const ServiceSpec& spec);

}  // namespace firedrill
