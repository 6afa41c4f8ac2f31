#pragma once
// What the measurement's files share: two small readers of a history (defined in analysis.cpp).
// Private to the checks library.
#include <string>
#include <vector>

#include "checks/history.hpp"

namespace firedrill {

/// The string event.details[key]; null when the details are no object or it is no string.
const std::string* string_detail(const Event& event, const char* key);
/// Whether name is one of names.
bool in_list(const std::vector<std::string>& names, const std::string& name);

}  // namespace firedrill
