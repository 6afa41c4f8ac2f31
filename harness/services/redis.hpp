#pragma once
#include "harness/services/service.hpp"
#include "harness/services/service_kind.hpp"
#include "harness/services/redis_settings.hpp"

namespace firedrill {

/// Redis 7-compatible server; `persistence` selects none, rdb (the default) or aof. With
/// `sentinels`, ${name.url} is the group's redis-sentinel:// URL (sentinel.hpp), which Sentinel
/// resolves, so it ignores a fault proxy placed on the path.
///
/// The server asks for a password: REDIS_PASSWORD from the scenario, or one generated for the run
/// (a group's replicas and sentinels share their master's). It reaches the server as `requirepass`
/// and `masterauth` lines on the server's standard input, never as an argument; ${name.url}
/// carries it (redis://:PASSWORD@host:port), and REDISCLI_AUTH in the container's environment lets
/// `redis-cli` in the container authenticate. A scenario's own `command:` that is not a list of
/// redis-server options runs as it is, without the password.
class RedisService final : public Service {
 public:
  /// The kind's keys, rules, derived services and class (registered in kinds.cpp).
  static ServiceKind kind();
  explicit RedisService(ServiceSpec spec);
  int container_port() const override { return 6379; }
  std::string url_at(const std::string& host, int port) const override;
  ContainerSpec container_spec(const std::function<std::string(const std::string&)>& resolve) const override;
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  /// /data, where the image's redis-server writes its RDB and AOF files.
  std::string data_directory() const override { return "/data"; }
  std::vector<std::string> secrets() const override { return {password_}; }
  std::string harness_password() const override { return password_; }
  std::optional<std::string> reference(const std::string& field, const std::string& host, int port) const override {
    if (field == "password") return password_;
    return Service::reference(field, host, port);
  }
  std::optional<WriteRequestSpec> implied_write(const std::string&) const override { return redis_set_write(); }
  std::optional<ReadBackSpec> implied_read_back(const std::string&) const override { return redis_scan_read_back(); }

 protected:
  std::map<std::string, std::string> kind_environment() const override;
  std::string default_image() const override { return "firedrill/redis:7"; }
  /// A replica (spec().standby_of set, see sentinel.hpp) is ready once its link to the master is up.
  bool ready_precondition(Runtime& runtime, std::string& why_not) const override;

 private:
  std::string password_;
};

/// What `${name.url}` of a sentinel-managed redis gives other services, before the engine resolves
/// the sentinels' addresses in it:
/// `redis-sentinel://${<master>-sentinel-1.host}:${<master>-sentinel-1.port},.../<master>`, the
/// last segment being the master name the sentinels know it by. In containers that becomes
/// `<master>-sentinel-1:26379,...`; on the process runtime `127.0.0.1:<port>,...`.
/// With a password, `redis-sentinel://:PASSWORD@…` (percent-encoded): clients authenticate to the
/// master with it; the sentinels tell anyone where the master is.
std::string sentinel_url(const ServiceSpec& master, const std::string& password = {});

}  // namespace firedrill
