#pragma once
// Postgres that fails over by itself: Patroni members coordinated through etcd. A scenario writes
// `ha: patroni` (with `members: N`, default 3, and `sync: true` for Patroni's synchronous_mode) on
// a postgres service; the loader turns it into an etcd service <name>-etcd and N
// Patroni members <name>-1..N (ServiceSpec::member_of), each an ordinary service that probes,
// steps, logs and the report know by its own name. The service <name> itself starts no container:
// it stands for the cluster. Other containers get a multi-host URL over every member with
// target_session_attrs=read-write, the harness reaches it the same way over the members'
// published ports (so its probes, RTO and read-back follow the leader), and a fault aimed at it
// hits the member that leads at that moment, as Patroni's REST API names it.
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model.hpp"
#include "harness/services/derived.hpp"
#include "harness/services/service.hpp"

namespace firedrill {

/// Patroni's timings (its bootstrap.dcs settings), in seconds. Patroni needs
/// loop_wait + 2 × retry_timeout <= ttl.
struct PatroniTimings {
  int ttl = 10;           // the leader key's lifetime in etcd: how long a dead leader keeps it
  int loop_wait = 1;      // the pause between two runs of each member's HA loop
  int retry_timeout = 3;  // how long a member retries etcd and Postgres before it gives up a step
};

/// The timings every generated cluster runs with: short, so a leader loss heals within seconds.
inline constexpr PatroniTimings patroni_timings{};

/// The port of Patroni's REST API on every member.
inline constexpr int patroni_rest_port = 8008;
/// The port etcd serves its clients on.
inline constexpr int etcd_client_port = 2379;

/// The longest a cluster should need to have a new leader accepting writes after its leader died:
/// the dead leader's key lives up to ttl, a replica runs its HA loop within loop_wait after it
/// expired, and the promotion (take the key, promote, update the key) is bounded by retry_timeout.
std::chrono::seconds patroni_failover_window(const PatroniTimings& timings = patroni_timings);

/// The Patroni members the loader adds for a cluster: <name>-1..N; empty unless `ha` is set.
std::vector<std::string> patroni_member_names(const ServiceSpec& cluster);

/// The etcd service the loader adds for the cluster `cluster`: <cluster>-etcd.
std::string patroni_etcd_name(const std::string& cluster);

/// The patroni.yml every member of `cluster` runs with. It holds no secret and no address: each
/// member's name, addresses and passwords reach Patroni through its PATRONI_* environment.
std::string patroni_configuration(const ServiceSpec& cluster, const PatroniTimings& timings = patroni_timings);

/// The declared `ha: patroni` postgres `cluster` as its etcd, then its members, then itself. The
/// cluster gets a generated POSTGRES_PASSWORD unless it sets one; the members share it as the
/// superuser's, and a generated password for the replication role.
std::vector<ExpandedService> patroni_cluster_services(const ServiceSpec& cluster, GeneratedSecrets& secrets);

/// `postgresql://user:password@m1:p1,...,mN:pN/database?target_session_attrs=read-write&connect_timeout=2`:
/// libpq (and the app) try every member and keep the one that accepts writes.
std::string patroni_url(const std::vector<Endpoint>& members, const std::string& user, const std::string& password,
                        const std::string& database);

/// The same as a libpq keyword conninfo over 127.0.0.1 and the members' published ports.
std::string patroni_conninfo(const std::vector<int>& host_ports, const std::string& user, const std::string& password,
                             const std::string& database);

/// The member a `GET /cluster` answer of Patroni's REST API names as leader and running, if any.
std::optional<std::string> leader_in_cluster_status(const std::string& body);

/// The whole cluster as the harness sees it: no container of its own. Ready once every member
/// runs, one of them leads (and, with synchronous_mode, one is the synchronous standby) and the
/// leader accepts a connection as read-write.
class PatroniClusterService final : public Service {
 public:
  explicit PatroniClusterService(ServiceSpec spec);
  int container_port() const override { return 5432; }
  /// At the cluster's own name: the multi-host URL over its members; elsewhere (a fault proxy):
  /// a single-host URL.
  std::string url_at(const std::string& host, int port) const override;
  ContainerInfo start(Runtime& runtime, const std::function<std::string(const std::string&)>& resolve) const override;
  void wait_ready(Runtime& runtime, const ContainerInfo& info, std::chrono::milliseconds timeout) const override;
  /// Records the members' published ports; host_ports maps 5432 to the port of the member leading
  /// now, image_id is that member's.
  ContainerInfo inspect(Runtime& runtime) const override;
  /// The leader, asked from the members' REST APIs.
  std::string fault_target(Runtime& runtime) const override;
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  /// Multi-host over the members' published ports (as last inspected), read-write only.
  std::string harness_conninfo(const ContainerInfo& info) const override;
  std::vector<std::string> secrets() const override { return {password_}; }
  /// Its members, etcd and timings under "patroni" (describe()).
  void add_details(nlohmann::json& entry) const override { entry["patroni"] = describe(); }

  /// The cluster's members, etcd and timings, with the failover window they imply.
  nlohmann::json describe() const;

 protected:
  std::string default_image() const override { return "firedrill/postgres:15"; }

 private:
  /// The answer of GET /cluster from the first member that gives one, or nothing.
  std::optional<std::string> cluster_status(Runtime& runtime) const;
  std::string password_;
  std::vector<std::string> members_;
  mutable std::mutex mutex_;
  mutable std::vector<int> member_ports_;  // published 5432 of each member, in member order
};

/// One Patroni member: Patroni as the container's main process, running Postgres 15. Publishes
/// 5432 and the REST API; ready once the REST API says its Postgres runs (/health).
class PatroniMemberService final : public Service {
 public:
  explicit PatroniMemberService(ServiceSpec spec);
  int container_port() const override { return 5432; }
  ContainerSpec container_spec(const std::function<std::string(const std::string&)>& resolve) const override;
  std::string url_at(const std::string& host, int port) const override;
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  std::string harness_conninfo(const ContainerInfo& info) const override;
  std::string data_directory() const override { return "/var/lib/postgresql/data"; }
  std::vector<std::string> secrets() const override;

 protected:
  std::string default_image() const override { return "firedrill/postgres:15"; }
};

/// The environment variable that gives a cluster's etcd its root password.
inline constexpr const char* etcd_password_env = "FIREDRILL_ETCD_PASSWORD";

/// The single etcd server of a cluster, listening on its address on the run's network (not on
/// loopback); ready once its /health answers and it asks for authentication: the harness makes
/// its `root` user with the password the run generated (FIREDRILL_ETCD_PASSWORD, which the members
/// log in with) and enables authentication over the published port, so neither a process of the
/// machine nor one of the run's containers can end the leader's lease without it.
class EtcdService final : public Service {
 public:
  using Service::Service;
  int container_port() const override { return etcd_client_port; }
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  std::vector<std::string> secrets() const override;

 protected:
  std::string default_image() const override { return "firedrill/base:bookworm"; }
  bool ready_precondition(Runtime& runtime, std::string& why_not) const override;
};

}  // namespace firedrill
