#include "harness/services/patroni.hpp"

#include <memory>
#include <utility>

#include <fmt/format.h>

#include "clients/probes/prober.hpp"
#include "harness/services/connection_string.hpp"
#include "harness/services/loopback_http.hpp"
#include "harness/services/standby.hpp"

namespace firedrill {
namespace {

std::string env_or(const ServiceSpec& spec, const std::string& key, const std::string& fallback) {
  auto found = spec.env.find(key);
  return found != spec.env.end() ? found->second : fallback;
}

std::string user_of(const ServiceSpec& spec) { return env_or(spec, "POSTGRES_USER", "postgres"); }
std::string database_of(const ServiceSpec& spec) { return env_or(spec, "POSTGRES_DB", user_of(spec)); }

// Runs as root in the member's container (the image's entrypoint passes a non-postgres command
// through), then becomes postgres and hands over to Patroni, which initialises or clones the data
// directory and runs Postgres. The member's address comes from its own hosts entry: other members
// may have started before it and know no name for it, so Patroni announces addresses, not names.
constexpr const char* member_script = R"SH(set -euo pipefail
self="$(getent hosts "$FIREDRILL_MEMBER_NAME" | awk '{ print $1; exit }')"
[ -n "$self" ] || self="$(hostname -i | awk '{ print $1 }')"
export PATRONI_NAME="$FIREDRILL_MEMBER_NAME"
export PATRONI_RESTAPI_CONNECT_ADDRESS="$self:8008"
export PATRONI_POSTGRESQL_CONNECT_ADDRESS="$self:5432"
mkdir -p /etc/firedrill /var/lib/postgresql/data /var/run/postgresql
printf '%s\n' "$FIREDRILL_PATRONI_CONFIG" >/etc/firedrill/patroni.yml
cat >/etc/firedrill/post-bootstrap.sh <<'EOF'
#!/bin/bash
set -euo pipefail
psql -X -q -v ON_ERROR_STOP=1 "$1" -v database="$FIREDRILL_DATABASE" <<'SQL'
SELECT format('CREATE DATABASE %I', :'database')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
SQL
EOF
chmod 755 /etc/firedrill/post-bootstrap.sh
chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql
unset FIREDRILL_PATRONI_CONFIG
export HOME=/var/lib/postgresql
echo "patroni member $FIREDRILL_MEMBER_NAME at $self"
exec setpriv --reuid postgres --regid postgres --init-groups patroni /etc/firedrill/patroni.yml
)SH";

// etcd listens on the container's address on the run's network only, and advertises its service
// name, which every member's hosts file knows (etcd starts before them).
constexpr const char* etcd_script = R"SH(set -euo pipefail
self="$(getent hosts "$FIREDRILL_ETCD_NAME" | awk '{ print $1; exit }')"
[ -n "$self" ] || self="$(hostname -i | awk '{ print $1 }')"
exec etcd --name "$FIREDRILL_ETCD_NAME" --data-dir /tmp/etcd \
  --listen-client-urls "http://$self:2379" --advertise-client-urls "http://$FIREDRILL_ETCD_NAME:2379" \
  --listen-peer-urls "http://$self:2380" --initial-advertise-peer-urls "http://$FIREDRILL_ETCD_NAME:2380" \
  --initial-cluster "$FIREDRILL_ETCD_NAME=http://$FIREDRILL_ETCD_NAME:2380" --initial-cluster-state new \
  --initial-cluster-token "$FIREDRILL_ETCD_NAME"
)SH";

}  // namespace

std::chrono::seconds patroni_failover_window(const PatroniTimings& timings) {
  return std::chrono::seconds(timings.ttl + timings.loop_wait + timings.retry_timeout);
}

std::vector<std::string> patroni_member_names(const ServiceSpec& cluster) {
  std::vector<std::string> names;
  if (cluster.ha.empty()) return names;
  for (int i = 1; i <= cluster.members; ++i) names.push_back(fmt::format("{}-{}", cluster.name, i));
  return names;
}

std::string patroni_etcd_name(const std::string& cluster) { return cluster + "-etcd"; }

std::string patroni_configuration(const ServiceSpec& cluster, const PatroniTimings& timings) {
  // pg_basebackup's default spread checkpoint would keep a new replica waiting for minutes.
  return fmt::format(R"YAML(scope: {scope}
namespace: /firedrill/
restapi:
  listen: 0.0.0.0:{rest}
etcd3:
  hosts: {etcd}:{etcd_port}
bootstrap:
  dcs:
    ttl: {ttl}
    loop_wait: {loop_wait}
    retry_timeout: {retry_timeout}
    maximum_lag_on_failover: 1048576
    synchronous_mode: {sync}
    postgresql:
      use_pg_rewind: false
      use_slots: true
      parameters:
        wal_keep_size: 128MB
        max_wal_senders: 10
        max_replication_slots: 10
  initdb:
    - encoding: UTF8
    - data-checksums
    - auth-host: scram-sha-256
    - auth-local: trust
  post_bootstrap: /etc/firedrill/post-bootstrap.sh
postgresql:
  listen: 0.0.0.0:5432
  data_dir: /var/lib/postgresql/data/pgdata
  bin_dir: /usr/lib/postgresql/15/bin
  pgpass: /tmp/patroni.pgpass
  basebackup:
    - checkpoint: fast
  pg_hba:
    - local all all trust
    - host replication {replication} all scram-sha-256
    - host all all all scram-sha-256
  parameters:
    unix_socket_directories: /var/run/postgresql
    password_encryption: scram-sha-256
)YAML",
                     fmt::arg("scope", cluster.name), fmt::arg("rest", patroni_rest_port),
                     fmt::arg("etcd", patroni_etcd_name(cluster.name)), fmt::arg("etcd_port", etcd_client_port),
                     fmt::arg("ttl", timings.ttl), fmt::arg("loop_wait", timings.loop_wait),
                     fmt::arg("retry_timeout", timings.retry_timeout), fmt::arg("sync", cluster.sync ? "true" : "false"),
                     fmt::arg("replication", replication_role));
}

std::vector<ExpandedService> patroni_cluster_services(const ServiceSpec& declared, GeneratedSecrets& secrets) {
  ServiceSpec cluster = declared;
  if (!cluster.env.count("POSTGRES_PASSWORD")) cluster.env["POSTGRES_PASSWORD"] = secrets.make();
  const auto members = patroni_member_names(cluster);
  const std::string etcd_name = patroni_etcd_name(cluster.name);
  std::vector<ExpandedService> expanded;

  ServiceSpec etcd;
  etcd.name = etcd_name;
  etcd.kind = "container";
  etcd.image = "firedrill/base:bookworm";
  etcd.port = etcd_client_port;
  etcd.env["FIREDRILL_ETCD_NAME"] = etcd_name;
  // etcd holds the leader's key: whoever may write it can end the leader's lease.
  const std::string etcd_password = secrets.make();
  etcd.env[etcd_password_env] = etcd_password;
  etcd.command = {"/bin/bash", "-c", etcd_script};
  etcd.member_of = cluster.name;
  etcd.where = declared.where;
  expanded.push_back({etcd, "the etcd of the Patroni cluster"});

  const std::string replication_password = secrets.make();
  // The REST API's unsafe endpoints (switchover, restart, reinitialise, configuration) ask for
  // it; its status (GET), which the harness reads, stays open.
  const std::string rest_password = secrets.make();
  const std::string configuration = patroni_configuration(cluster);
  std::vector<std::string> references;
  for (const auto& name : members) {
    ServiceSpec member;
    member.name = name;
    member.kind = "postgres";
    member.image = cluster.image;
    member.env = cluster.env;
    member.env["FIREDRILL_MEMBER_NAME"] = name;
    member.env["FIREDRILL_DATABASE"] = database_of(cluster);
    member.env["FIREDRILL_PATRONI_CONFIG"] = configuration;
    // The same hosts as patroni.yml's; the reference makes the engine start etcd first.
    member.env["PATRONI_ETCD3_HOSTS"] = fmt::format("${{{}.host}}:{}", etcd_name, etcd_client_port);
    member.env["PATRONI_SUPERUSER_USERNAME"] = user_of(cluster);
    member.env["PATRONI_SUPERUSER_PASSWORD"] = cluster.env.at("POSTGRES_PASSWORD");
    member.env["PATRONI_REPLICATION_USERNAME"] = replication_role;
    member.env["PATRONI_REPLICATION_PASSWORD"] = replication_password;
    member.env["PATRONI_RESTAPI_USERNAME"] = "firedrill";
    member.env["PATRONI_RESTAPI_PASSWORD"] = rest_password;
    member.env["PATRONI_ETCD3_USERNAME"] = "root";
    member.env["PATRONI_ETCD3_PASSWORD"] = etcd_password;
    member.command = {"/bin/bash", "-c", member_script};
    member.member_of = cluster.name;
    member.disk = cluster.disk;
    member.where = declared.where;
    expanded.push_back({member, "a member of the Patroni cluster"});
    references.push_back(fmt::format("${{{}.host}}", name));
  }
  cluster.disk.reset();
  // The cluster has no container; the references make the engine place it after its members,
  // so whatever refers to the cluster starts once a leader accepts writes.
  cluster.env["FIREDRILL_PATRONI_MEMBERS"] = fmt::format("{}", fmt::join(references, ","));
  expanded.push_back({cluster, ""});
  return expanded;
}

std::string patroni_url(const std::vector<Endpoint>& members, const std::string& user, const std::string& password,
                        const std::string& database) {
  std::vector<std::string> hosts;
  for (const auto& member : members) hosts.push_back(fmt::format("{}:{}", member.host, member.port));
  return postgres_url(user, password, fmt::format("{}", fmt::join(hosts, ",")), database,
                      "target_session_attrs=read-write&connect_timeout=2");
}

std::string patroni_conninfo(const std::vector<int>& host_ports, const std::string& user, const std::string& password,
                             const std::string& database) {
  std::vector<std::string> hosts(host_ports.size(), "127.0.0.1");
  return conninfo({{"host", fmt::format("{}", fmt::join(hosts, ","))},
                   {"port", fmt::format("{}", fmt::join(host_ports, ","))},
                   {"user", user},
                   {"password", password},
                   {"dbname", database},
                   {"connect_timeout", "2"},
                   {"target_session_attrs", "read-write"}});
}

std::optional<std::string> leader_in_cluster_status(const std::string& body) {
  auto status = nlohmann::json::parse(body, nullptr, false);
  if (!status.is_object() || !status.contains("members") || !status["members"].is_array()) return std::nullopt;
  for (const auto& member : status["members"])
    if (member.value("role", "") == "leader" && member.value("state", "") == "running")
      return member.value("name", "");
  return std::nullopt;
}

PatroniClusterService::PatroniClusterService(ServiceSpec spec)
    : Service(std::move(spec)), password_(env_or(spec_, "POSTGRES_PASSWORD", "")), members_(patroni_member_names(spec_)) {
  if (password_.empty()) password_ = random_secret();
}

std::string PatroniClusterService::url_at(const std::string& host, int port) const {
  if (host != spec_.name) {
    return postgres_url(user_of(spec_), password_, fmt::format("{}:{}", host, port), database_of(spec_));
  }
  std::vector<Endpoint> endpoints;
  for (const auto& member : members_) endpoints.push_back({member, container_port()});
  return patroni_url(endpoints, user_of(spec_), password_, database_of(spec_));
}

ContainerInfo PatroniClusterService::start(Runtime& /*runtime*/,
                                           const std::function<std::string(const std::string&)>& /*resolve*/) const {
  ContainerInfo info;
  info.name = spec_.name;
  return info;
}

std::optional<std::string> PatroniClusterService::cluster_status(Runtime& runtime) const {
  for (const auto& member : members_) {
    if (!runtime.is_running(member)) continue;
    const auto ports = runtime.inspect(member).host_ports;
    auto rest = ports.find(patroni_rest_port);
    if (rest == ports.end()) continue;
    if (auto body = loopback_http_get(rest->second, "/cluster", std::chrono::milliseconds(1000))) return body;
  }
  return std::nullopt;
}

void PatroniClusterService::wait_ready(Runtime& runtime, const ContainerInfo& /*info*/,
                                       std::chrono::milliseconds timeout) const {
  std::string last_error;
  bool ready = poll_until(
      [&](std::string& error) {
        for (const auto& member : members_)
          if (!runtime.is_running(member)) {
            error = fmt::format("member '{}' is not running", member);
            return false;
          }
        auto body = cluster_status(runtime);
        if (!body) {
          error = "no member's REST API answers GET /cluster";
          return false;
        }
        auto status = nlohmann::json::parse(*body, nullptr, false);
        if (!status.is_object()) {
          error = "GET /cluster did not answer a JSON object";
          return false;
        }
        std::size_t running = 0;
        bool leader = false, synchronous = false;
        for (const auto& member : status.value("members", nlohmann::json::array())) {
          if (member.value("state", "") == "running") ++running;
          if (member.value("role", "") == "leader" && member.value("state", "") == "running") leader = true;
          if (member.value("role", "") == "sync_standby" && member.value("state", "") == "running") synchronous = true;
        }
        if (!leader || running < members_.size() || (spec_.sync && !synchronous)) {
          error = fmt::format("the cluster is not complete yet: {}", *body);
          return false;
        }
        inspect(runtime);
        ProbeConfig probe;
        probe.type = "sql";
        probe.conninfo = harness_conninfo(ContainerInfo{});
        probe.timeout = std::chrono::milliseconds(3000);
        auto answer = probe_once(probe);
        error = answer.error;
        return answer.ok;
      },
      timeout, last_error);
  if (!ready)
    throw EnvironmentError(fmt::format("Patroni cluster '{}' never became ready within {}s: {}", spec_.name,
                                       timeout.count() / 1000, last_error));
}

ContainerInfo PatroniClusterService::inspect(Runtime& runtime) const {
  ContainerInfo cluster;
  cluster.name = spec_.name;
  std::vector<int> ports;
  std::map<std::string, ContainerInfo> members;
  for (const auto& member : members_) {
    members[member] = runtime.inspect(member);
    auto published = members[member].host_ports.find(5432);
    if (published != members[member].host_ports.end()) ports.push_back(published->second);
  }
  std::string leader;
  if (auto body = cluster_status(runtime)) leader = leader_in_cluster_status(*body).value_or("");
  const ContainerInfo& shown = members.count(leader) ? members.at(leader) : members.at(members_.front());
  cluster.image_id = shown.image_id;
  cluster.gateway = shown.gateway;
  if (auto published = shown.host_ports.find(5432); published != shown.host_ports.end())
    cluster.host_ports[5432] = published->second;
  std::lock_guard lock(mutex_);
  member_ports_ = ports;
  return cluster;
}

std::string PatroniClusterService::fault_target(Runtime& runtime) const {
  auto body = cluster_status(runtime);
  if (!body) throw std::runtime_error(fmt::format("no member of '{}' answers on its REST API: no leader to aim at", spec_.name));
  auto leader = leader_in_cluster_status(*body);
  if (!leader || leader->empty())
    throw std::runtime_error(fmt::format("the Patroni cluster '{}' has no running leader to aim at", spec_.name));
  return *leader;
}

ProbeConfig PatroniClusterService::readiness_probe(const ContainerInfo& /*info*/) const {
  ProbeConfig probe = readiness_probe_of("sql", std::chrono::milliseconds(1000));
  probe.conninfo = harness_conninfo(ContainerInfo{});
  return probe;
}

std::string PatroniClusterService::harness_conninfo(const ContainerInfo& /*info*/) const {
  std::lock_guard lock(mutex_);
  return patroni_conninfo(member_ports_, user_of(spec_), password_, database_of(spec_));
}

nlohmann::json PatroniClusterService::describe() const {
  return {{"ha", "patroni"},
          {"members", members_},
          {"etcd", patroni_etcd_name(spec_.name)},
          {"synchronous_mode", spec_.sync},
          {"ttl_seconds", patroni_timings.ttl},
          {"loop_wait_seconds", patroni_timings.loop_wait},
          {"retry_timeout_seconds", patroni_timings.retry_timeout},
          {"expected_failover_seconds", patroni_failover_window().count()}};
}

PatroniMemberService::PatroniMemberService(ServiceSpec spec) : Service(std::move(spec)) {}

ContainerSpec PatroniMemberService::container_spec(const std::function<std::string(const std::string&)>& resolve) const {
  ContainerSpec container = Service::container_spec(resolve);
  container.ports.push_back(patroni_rest_port);
  return container;
}

std::string PatroniMemberService::url_at(const std::string& host, int port) const {
  return postgres_url(user_of(spec_), env_or(spec_, "POSTGRES_PASSWORD", ""), fmt::format("{}:{}", host, port),
                      database_of(spec_));
}

ProbeConfig PatroniMemberService::readiness_probe(const ContainerInfo& info) const {
  // Patroni's /health answers 200 once this member's Postgres runs, as leader or replica.
  ProbeConfig probe = readiness_probe_of("http", std::chrono::milliseconds(1000));
  probe.port = info.host_ports.at(patroni_rest_port);
  probe.path = "/health";
  return probe;
}

std::string PatroniMemberService::harness_conninfo(const ContainerInfo& info) const {
  return conninfo({{"host", "127.0.0.1"},
                   {"port", std::to_string(info.host_ports.at(5432))},
                   {"user", user_of(spec_)},
                   {"password", env_or(spec_, "POSTGRES_PASSWORD", "")},
                   {"dbname", database_of(spec_)},
                   {"connect_timeout", "2"}});
}

std::vector<std::string> PatroniMemberService::secrets() const {
  return {env_or(spec_, "POSTGRES_PASSWORD", ""), env_or(spec_, "PATRONI_REPLICATION_PASSWORD", ""),
          env_or(spec_, "PATRONI_RESTAPI_PASSWORD", ""), env_or(spec_, "PATRONI_ETCD3_PASSWORD", "")};
}

std::vector<std::string> EtcdService::secrets() const { return {env_or(spec_, etcd_password_env, "")}; }

bool EtcdService::ready_precondition(Runtime& runtime, std::string& why_not) const {
  const std::string password = env_or(spec_, etcd_password_env, "");
  if (password.empty()) return true;
  const auto ports = runtime.inspect(spec_.name).host_ports;
  const auto published = ports.find(etcd_client_port);
  if (published == ports.end()) {
    why_not = "etcd's client port is not published";
    return false;
  }
  const int port = published->second;
  const auto timeout = std::chrono::milliseconds(2000);
  // The user, its role, then authentication on. Each step that was done before (a restarted
  // etcd keeps its data) answers that it was; once authentication is on, an anonymous request
  // is refused, which is what this waits for.
  const nlohmann::json user = {{"name", "root"}, {"password", password}};
  const auto added = loopback_http_post(port, "/v3/auth/user/add", user.dump(), timeout);
  if (!added) {
    why_not = "etcd does not answer yet";
    return false;
  }
  auto refused_anonymously = [](const std::pair<long, std::string>& answer) {
    return answer.first != 200 && (answer.second.find("user name is empty") != std::string::npos ||
                                   answer.second.find("permission denied") != std::string::npos);
  };
  if (refused_anonymously(*added)) return true;
  if (added->first != 200 && added->second.find("already exists") == std::string::npos) {
    why_not = fmt::format("etcd refused its root user: {}", added->second.substr(0, 200));
    return false;
  }
  const auto granted = loopback_http_post(port, "/v3/auth/user/grant", R"({"user": "root", "role": "root"})", timeout);
  if (!granted || (granted->first != 200 && granted->second.find("already") == std::string::npos)) {
    why_not = fmt::format("etcd did not grant root its role: {}", granted ? granted->second.substr(0, 200) : "no answer");
    return false;
  }
  const auto enabled = loopback_http_post(port, "/v3/auth/enable", "{}", timeout);
  if (!enabled || (enabled->first != 200 && !refused_anonymously(*enabled))) {
    why_not = fmt::format("etcd did not enable authentication: {}", enabled ? enabled->second.substr(0, 200) : "no answer");
    return false;
  }
  const auto checked = loopback_http_post(port, "/v3/kv/range", R"({"key": "Lw=="})", timeout);
  if (checked && refused_anonymously(*checked)) return true;
  why_not = "etcd still answers anonymous requests";
  return false;
}

ProbeConfig EtcdService::readiness_probe(const ContainerInfo& info) const {
  ProbeConfig probe = readiness_probe_of("http", std::chrono::milliseconds(1000));
  probe.port = info.host_ports.at(etcd_client_port);
  probe.path = "/health";
  return probe;
}

}  // namespace firedrill
