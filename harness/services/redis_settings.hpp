#pragma once
// What a redis-server and the replicas and sentinels derived from it share, apart from the
// server's class (so the sentinels' file need not include it).
#include <string>
#include <vector>

namespace firedrill {

/// The redis-server arguments of a `persistence` mode (none, rdb, aof).
std::vector<std::string> redis_persistence_arguments(const std::string& persistence);

/// The environment variable a Redis server, its replicas and its sentinels take their password from.
inline constexpr const char* redis_password_env = "REDIS_PASSWORD";

}  // namespace firedrill
