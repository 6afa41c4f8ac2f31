#pragma once
// The `integrity` check: a figure gathered while the environment is up, judged against an expectation.
#include <optional>
#include <string>

namespace firedrill {

/// Compares a value against an expectation like ">= acked", "== 0", "> 100", "acked".
/// Returns nothing when the expectation holds, else why not.
std::optional<std::string> compare_expectation(long long value, const std::string& expectation, long long acked);

}  // namespace firedrill
