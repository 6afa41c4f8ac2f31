#include "harness/services/redis_settings.hpp"

namespace firedrill {

std::vector<std::string> redis_persistence_arguments(const std::string& persistence) {
  if (persistence == "aof") return {"--appendonly", "yes", "--appendfsync", "always"};
  if (persistence == "none") return {"--save", "", "--appendonly", "no"};
  return {};
}

}  // namespace firedrill
