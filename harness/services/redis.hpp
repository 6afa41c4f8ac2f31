#pragma once
#include "harness/services/service.hpp"

namespace firedrill {

/// Redis 7-compatible server; `persistence` selects none, rdb (the default) or aof.
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
};

}  // namespace firedrill
