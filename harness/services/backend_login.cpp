#include "harness/services/backend_login.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "harness/services/service_key_error.hpp"

namespace firedrill {
namespace {

std::string backend_env_or(const ServiceSpec& spec, const std::string& key, const std::string& fallback) {
  const auto found = spec.env.find(key);
  return found != spec.env.end() ? found->second : fallback;
}

bool is_derived_service(const ServiceSpec& spec) {
  return !spec.standby_of.empty() || !spec.member_of.empty() || !spec.sentinel_of.empty();
}

}  // namespace

ServiceSpec& postgres_backend(const ServiceSpec& front, std::vector<ServiceSpec>& services) {
  const auto found = std::find_if(services.begin(), services.end(), [&](const ServiceSpec& spec) {
    return spec.name == front.backend && !is_derived_service(spec);
  });
  if (found == services.end()) {
    std::vector<std::string> postgres;
    for (const auto& spec : services)
      if (spec.kind == "postgres" && !is_derived_service(spec)) postgres.push_back(spec.name);
    throw ServiceKeyError("backend", fmt::format("'backend' of '{}' names no declared service: '{}' (postgres services: {})",
                                                 front.name, front.backend,
                                                 postgres.empty() ? "none" : fmt::format("{}", fmt::join(postgres, ", "))));
  }
  if (found->kind != "postgres")
    throw ServiceKeyError("backend", fmt::format("'backend' of '{}' must be a postgres service; '{}' is a {} service",
                                                 front.name, found->name, found->kind));
  return *found;
}

void take_backend_login(ServiceSpec& front, ServiceSpec& backend, GeneratedSecrets& secrets) {
  if (!backend.env.count("POSTGRES_PASSWORD")) backend.env["POSTGRES_PASSWORD"] = secrets.make();
  const std::string user = backend_env_or(backend, "POSTGRES_USER", "postgres");
  front.env[backend_user_env] = user;
  front.env[backend_database_env] = backend_env_or(backend, "POSTGRES_DB", user);
  front.env[backend_password_env] = backend.env.at("POSTGRES_PASSWORD");
}

BackendLogin backend_login(const ServiceSpec& front) {
  return {backend_env_or(front, backend_user_env, ""), backend_env_or(front, backend_password_env, ""),
          backend_env_or(front, backend_database_env, "")};
}

}  // namespace firedrill
