#pragma once
// One read-only query against Postgres for a check that gathers a figure while the environment is up.
#include <optional>
#include <string>

namespace firedrill {

/// The first column of the first row of a query, as text, or why there is none.
struct ScalarResult {
  std::optional<std::string> value;
  std::string error;
};

/// Runs one read-only query over libpq (bounded by the conninfo's connect_timeout and a 30 s
/// statement timeout). Never throws.
ScalarResult run_scalar_query(const std::string& conninfo, const std::string& sql);

}  // namespace firedrill
