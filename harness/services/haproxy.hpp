#pragma once
// HAProxy in front of a Patroni cluster of the scenario (`kind: haproxy`, `backend: db` naming a
// postgres with `ha: patroni`): Debian bookworm's haproxy in the base image, configured as
// Patroni's documentation shows. It listens on 5000 and passes TCP to whichever member answers
// 200 to `GET /primary` on its REST API (port 8008), checked every `check_interval` (default 3s),
// a member taken out after `fall` failed checks in a row (3) and put back after `rise` passed ones
// (2); `on-marked-down shutdown-sessions` cuts the connections to a member taken out, so clients
// reconnect to the new leader instead of waiting on the old one. ${lb.url} is a postgresql:// URL
// through it with the cluster's login and target_session_attrs=read-write. Its statistics page
// (HAProxy's `stats`, read-only: each member's state and sessions; `/;csv` as CSV) listens on 7000,
// published on 127.0.0.1 like every port, and its log (each member marked up or down, each
// connection closed) is the container's output. HAProxy passes bytes: it holds no password.
#include <map>
#include <string>
#include <vector>

#include "core/model.hpp"
#include "harness/services/derived.hpp"
#include "harness/services/postgres_front.hpp"
#include "harness/services/service_kind.hpp"

namespace firedrill {

/// The port HAProxy passes to the leader on, as in Patroni's documentation.
inline constexpr int haproxy_port = 5000;
/// The port of HAProxy's statistics page.
inline constexpr int haproxy_stats_port = 7000;

/// HAProxy's check timings as Patroni's documentation sets them, which a scenario's keys override.
inline constexpr const char* haproxy_default_check_interval = "3s";
inline constexpr int haproxy_default_fall = 3;
inline constexpr int haproxy_default_rise = 2;

/// The kind's `attach`: `balancer.backend` must be a declared postgres with `ha: patroni`; takes
/// its login (backend_login.hpp) and names its members, each as ${member.host}:${member.port} (so
/// the engine starts HAProxy once they run).
void attach_haproxy(ServiceSpec& balancer, std::vector<ServiceSpec>& services, GeneratedSecrets& secrets);

/// The members attach_haproxy named, in order.
std::vector<std::string> haproxy_members(const ServiceSpec& balancer);

/// What HAProxy's statistics (its `/;csv` page) say of one server of a listener.
struct HAProxyServerState {
  std::string status;        // UP, DOWN, or a transition such as "UP 1/2", "no check"
  std::string check_status;  // the last check's result: L7OK, L7STS (a status not expected), L4CON, INI …
  bool check_in_progress = false;  // HAProxy marks the result "* " while the next check runs
  long sessions = 0;         // sessions it took since HAProxy started (stot)
};

/// The servers of `listener` in a statistics CSV, by name; columns are found by the header's
/// names. Empty when the text is not such a CSV.
std::map<std::string, HAProxyServerState> haproxy_servers_in_stats(const std::string& csv, const std::string& listener);

/// haproxy.cfg for `balancer`: the `primary` listener routing to the member whose Patroni REST API
/// answers 200 to GET /primary, the statistics page, the log on standard output. Members are named
/// by ${member.host}:${member.port} references the engine resolves when HAProxy starts.
std::string haproxy_configuration(const ServiceSpec& balancer);

/// Its readiness, harness connection and secrets are a front's (postgres_front.hpp); the harness
/// connects with target_session_attrs=read-write, so a query through it proves it passes to the
/// leader.
class HAProxyService final : public PostgresFrontService {
 public:
  /// The kind's keys, rules, derived services and class (registered in kinds.cpp).
  static ServiceKind kind();
  explicit HAProxyService(ServiceSpec spec)
      : PostgresFrontService(std::move(spec), {haproxy_port, std::chrono::milliseconds(3000),
                                               {{"target_session_attrs", "read-write"}}}) {}
  /// The start script, the statistics port published too, and none of the cluster's login in the
  /// container's environment (HAProxy needs none).
  ContainerSpec container_spec(const std::function<std::string(const std::string&)>& resolve) const override;
  /// postgresql://user:password@host:port/database?target_session_attrs=read-write&connect_timeout=2
  std::string url_at(const std::string& host, int port) const override;
  /// Its backend, members and check timings under "haproxy".
  void add_details(nlohmann::json& entry) const override;

 protected:
  std::map<std::string, std::string> kind_environment() const override;
  std::string default_image() const override { return "firedrill/base:bookworm"; }
  /// HAProxy has checked every member once: exactly one is up (the leader), the others down.
  /// Before its first checks HAProxy counts every server up, and would pass a client to a replica.
  bool ready_precondition(Runtime& runtime, std::string& why_not) const override;
};

}  // namespace firedrill
