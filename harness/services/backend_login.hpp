#pragma once
// What a service standing in front of a postgres (a PgBouncer pool, an HAProxy in front of a
// Patroni cluster) takes of it when the scenario is loaded: which service it is, and the login
// its clients use through it. The login is copied into the front service's own env, so that the
// front's URL, its harness connection and (for a pooler) its auth file carry the backend's
// password, and a run's fresh secrets (with_fresh_secrets) replace both copies alike.
#include <string>
#include <vector>

#include "core/model.hpp"
#include "harness/services/derived.hpp"

namespace firedrill {

/// The env keys a front service carries its backend's superuser, database and password in.
inline constexpr const char* backend_user_env = "FIREDRILL_BACKEND_USER";
inline constexpr const char* backend_database_env = "FIREDRILL_BACKEND_DATABASE";
inline constexpr const char* backend_password_env = "FIREDRILL_BACKEND_PASSWORD";

/// The declared postgres service `front.backend` names among `services` (derived ones are never
/// a backend: a standby or a Patroni member is reached through what derived it). Throws
/// ServiceKeyError at `backend` when it names nothing, or a service of another kind.
ServiceSpec& postgres_backend(const ServiceSpec& front, std::vector<ServiceSpec>& services);

/// Copies the backend's superuser, database and password into `front`'s env (backend_*_env).
/// A backend with no POSTGRES_PASSWORD yet (one the run would generate when it starts) gets one
/// generated now, so that both ends share it.
void take_backend_login(ServiceSpec& front, ServiceSpec& backend, GeneratedSecrets& secrets);

/// The login a front service took of its backend.
struct BackendLogin {
  std::string user;
  std::string password;
  std::string database;
};

/// The login take_backend_login copied into `front`'s env (empty fields before it ran).
BackendLogin backend_login(const ServiceSpec& front);

}  // namespace firedrill
