#pragma once
#include "harness/services/service.hpp"

namespace firedrill {

/// Redis 7-compatible server; `persistence` selects none, rdb (the default) or aof. With
/// `sentinels`, ${name.url} is the group's redis-sentinel:// URL (sentinel.hpp), which Sentinel
/// resolves, so it ignores a fault proxy placed on the path.
class RedisService final : public Service {
 public:
  using Service::Service;
  int container_port() const override { return 6379; }
  std::string url_at(const std::string& host, int port) const override;
  ContainerSpec container_spec(const std::function<std::string(const std::string&)>& resolve) const override;
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  /// /data, where the image's redis-server writes its RDB and AOF files.
  std::string data_directory() const override { return "/data"; }

 protected:
  std::string default_image() const override { return "firedrill/redis:7"; }
  /// A replica (spec().standby_of set, see sentinel.hpp) is ready once its link to the master is up.
  bool ready_precondition(Runtime& runtime, std::string& why_not) const override;
};

/// The redis-server arguments of a `persistence` mode (none, rdb, aof).
std::vector<std::string> redis_persistence_arguments(const std::string& persistence);

}  // namespace firedrill
