#pragma once
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

/// Compares a value against an expectation like ">= acked", "== 0", "> 100", "acked".
/// Returns nothing when the expectation holds, else why not.
std::optional<std::string> compare_expectation(long long value, const std::string& expectation, long long acked);

}  // namespace firedrill
