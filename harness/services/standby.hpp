#pragma once
// Postgres streaming standbys. A scenario writes `standbys: N` (and `sync: true`) on a postgres
// service; the loader turns that into N more postgres services named <primary>-standby-1..N
// (ServiceSpec::standby_of), so validation, probes, steps, logs and the report treat a standby like
// any service. Each standby starts after its primary, clones it with
// `pg_basebackup -R` as a replication role created on first use, and streams from it.
#include <string>

#include <vector>

#include "core/model.hpp"
#include "harness/services/derived.hpp"

namespace firedrill {

/// The role the standbys replicate as; its password is generated per run and is a secret.
inline constexpr const char* replication_role = "firedrill_replication";

/// The declared postgres `primary` (with `standbys: N`) as it runs, followed by its standbys. The
/// primary gets a generated POSTGRES_PASSWORD unless it sets one (the standbys, being clones,
/// share it); with `sync: true` its server starts with synchronous_standby_names naming all its
/// standbys (`FIRST 1 (...)`), so a commit returns only once a standby has flushed it.
std::vector<ExpandedService> with_standbys(const ServiceSpec& primary, GeneratedSecrets& secrets);

/// The application_name a standby streams under (its service name); synchronous_standby_names
/// and pg_stat_replication know it by this.
std::string standby_application_name(const std::string& standby);

}  // namespace firedrill
