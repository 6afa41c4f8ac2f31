#include "harness/services/haproxy.hpp"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "harness/services/backend_login.hpp"
#include "harness/services/connection_string.hpp"
#include "harness/services/loopback_http.hpp"
#include "harness/services/patroni.hpp"
#include "harness/services/service_key_error.hpp"

namespace firedrill {
namespace {

constexpr const char* haproxy_config_env = "FIREDRILL_HAPROXY_CONFIG";
constexpr const char* haproxy_members_env = "FIREDRILL_HAPROXY_MEMBERS";

// Runs as root in the base image: HAProxy reads its configuration, then drops to its own user
// (`user haproxy` in it). -db keeps it in the foreground as the container's main process.
constexpr const char* haproxy_start_script = R"SH(set -euo pipefail
mkdir -p /etc/firedrill
printf '%s\n' "$FIREDRILL_HAPROXY_CONFIG" >/etc/firedrill/haproxy.cfg
unset FIREDRILL_HAPROXY_CONFIG
echo "haproxy in front of $FIREDRILL_HAPROXY_MEMBERS"
exec haproxy -db -f /etc/firedrill/haproxy.cfg
)SH";

std::string check_interval_of(const ServiceSpec& balancer) {
  return balancer.check_interval.empty() ? haproxy_default_check_interval : balancer.check_interval;
}

// HAProxy reads "3s" or "500ms" but not a scenario's "1.5s" or "1m30s": whole milliseconds it reads.
std::string haproxy_milliseconds(const std::string& duration) {
  return fmt::format("{}ms", std::chrono::duration_cast<std::chrono::milliseconds>(parse_duration(duration)).count());
}

int fall_of(const ServiceSpec& balancer) { return balancer.fall > 0 ? balancer.fall : haproxy_default_fall; }
int rise_of(const ServiceSpec& balancer) { return balancer.rise > 0 ? balancer.rise : haproxy_default_rise; }

}  // namespace

void attach_haproxy(ServiceSpec& balancer, std::vector<ServiceSpec>& services, GeneratedSecrets& secrets) {
  ServiceSpec& cluster = postgres_backend(balancer, services);
  if (cluster.ha != "patroni")
    throw ServiceKeyError("backend", fmt::format("'backend' of '{}' must be a Patroni cluster (a postgres with `ha: "
                                                 "patroni`), whose members' REST APIs say which one leads; '{}' is a "
                                                 "single server",
                                                 balancer.name, cluster.name));
  take_backend_login(balancer, cluster, secrets);
  std::vector<std::string> members;
  for (const auto& member : patroni_member_names(cluster)) members.push_back(fmt::format("{0}=${{{0}.host}}:${{{0}.port}}", member));
  balancer.env[haproxy_members_env] = fmt::format("{}", fmt::join(members, ","));
}

std::vector<std::string> haproxy_members(const ServiceSpec& balancer) {
  std::vector<std::string> names;
  const auto listed = balancer.env.find(haproxy_members_env);
  if (listed == balancer.env.end()) return names;
  std::istringstream items(listed->second);
  std::string item;
  while (std::getline(items, item, ',')) names.push_back(item.substr(0, item.find('=')));
  return names;
}

std::string haproxy_configuration(const ServiceSpec& balancer) {
  std::string servers;
  for (const auto& member : haproxy_members(balancer))
    servers += fmt::format("    server {0} ${{{0}.host}}:${{{0}.port}} maxconn 100 check port {1}\n", member,
                           patroni_rest_port);
  // Timeouts as Patroni's documentation sets them: a client's session may idle 30 minutes.
  return fmt::format(R"CFG(global
    maxconn 1000
    user haproxy
    group haproxy
    log stdout format raw local0

defaults
    log global
    mode tcp
    option tcplog
    retries 2
    timeout client 30m
    timeout connect 4s
    timeout server 30m
    timeout check 5s

listen stats
    mode http
    bind *:{stats}
    stats enable
    stats uri /
    stats refresh 5s

listen primary
    bind *:{port}
    option httpchk GET /primary
    http-check expect status 200
    default-server inter {inter} fall {fall} rise {rise} on-marked-down shutdown-sessions
{servers})CFG",
                     fmt::arg("stats", haproxy_stats_port), fmt::arg("port", haproxy_port),
                     fmt::arg("inter", haproxy_milliseconds(check_interval_of(balancer))), fmt::arg("fall", fall_of(balancer)),
                     fmt::arg("rise", rise_of(balancer)), fmt::arg("servers", servers));
}

std::map<std::string, HAProxyServerState> haproxy_servers_in_stats(const std::string& csv, const std::string& listener) {
  std::map<std::string, HAProxyServerState> servers;
  std::istringstream lines(csv);
  std::string line;
  if (!std::getline(lines, line) || !line.starts_with("# ")) return servers;
  auto split = [](const std::string& text) {
    std::vector<std::string> fields;
    std::istringstream cells(text);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    return fields;
  };
  const std::vector<std::string> header = split(line.substr(2));
  auto column = [&](const std::string& name) -> std::size_t {
    const auto found = std::find(header.begin(), header.end(), name);
    return found == header.end() ? header.size() : static_cast<std::size_t>(found - header.begin());
  };
  const std::size_t proxy = column("pxname"), server = column("svname"), status = column("status"),
                    check = column("check_status"), sessions = column("stot");
  if (std::max({proxy, server, status, check, sessions}) >= header.size()) return servers;
  while (std::getline(lines, line)) {
    const auto fields = split(line);
    if (fields.size() < header.size() || fields[proxy] != listener || fields[server] == "FRONTEND" ||
        fields[server] == "BACKEND")
      continue;
    HAProxyServerState state{fields[status], fields[check], false, 0};
    if (state.check_status.starts_with("* ")) {
      state.check_status.erase(0, 2);
      state.check_in_progress = true;
    }
    try {
      state.sessions = std::stol(fields[sessions]);
    } catch (const std::exception&) {
      state.sessions = 0;
    }
    servers[fields[server]] = state;
  }
  return servers;
}

bool HAProxyService::ready_precondition(Runtime& runtime, std::string& why_not) const {
  const auto ports = runtime.inspect(spec_.name).host_ports;
  const auto published = ports.find(haproxy_stats_port);
  if (published == ports.end()) {
    why_not = "HAProxy's statistics port is not published";
    return false;
  }
  const auto page = loopback_http_get(published->second, "/;csv", std::chrono::milliseconds(1000));
  if (!page) {
    why_not = "HAProxy's statistics page does not answer yet";
    return false;
  }
  const auto servers = haproxy_servers_in_stats(*page, "primary");
  int up = 0, down = 0;
  for (const auto& [name, state] : servers) {
    if (state.status == "UP" && state.check_status == "L7OK") ++up;
    if (state.status == "DOWN") ++down;
  }
  const auto members = haproxy_members(spec_);
  if (servers.size() == members.size() && up == 1 && up + down == static_cast<int>(members.size())) return true;
  why_not = fmt::format("HAProxy has not yet found exactly one member answering GET /primary ({} up, {} down of {})", up,
                        down, members.size());
  return false;
}

std::map<std::string, std::string> HAProxyService::kind_environment() const {
  return {{haproxy_config_env, haproxy_configuration(spec_)}};
}

ContainerSpec HAProxyService::container_spec(const std::function<std::string(const std::string&)>& resolve) const {
  ContainerSpec container = Service::container_spec(resolve);
  for (const char* login : {backend_user_env, backend_database_env, backend_password_env})
    std::erase_if(container.env, [&](const std::string& entry) { return entry.starts_with(std::string(login) + "="); });
  if (spec_.command.empty()) container.command = {"/bin/bash", "-c", haproxy_start_script};
  container.ports.push_back(haproxy_stats_port);
  return container;
}

std::string HAProxyService::url_at(const std::string& host, int port) const {
  const BackendLogin login = backend_login(spec_);
  return postgres_url(login.user, login.password, fmt::format("{}:{}", host, port), login.database,
                      "target_session_attrs=read-write&connect_timeout=2");
}

void HAProxyService::add_details(nlohmann::json& entry) const {
  entry["haproxy"] = {{"backend", spec_.backend},
                      {"members", haproxy_members(spec_)},
                      {"check", fmt::format("GET /primary on port {} expects 200", patroni_rest_port)},
                      {"check_interval", check_interval_of(spec_)},
                      {"fall", fall_of(spec_)},
                      {"rise", rise_of(spec_)},
                      {"stats_port", haproxy_stats_port}};
}

ServiceKind HAProxyService::kind() {
  ServiceKind kind;
  kind.name = "haproxy";
  kind.help = "HAProxy passing connections to the leader of a Patroni cluster (`backend`), by its REST API";
  kind.default_image = "firedrill/base:bookworm";
  kind.speaks = "postgres";
  kind.reference_fields = postgres_reference_fields;
  kind.runtimes = {"docker"};
  kind.runtime_note = "HAProxy runs in a container only";
  kind.keys = {
      {"backend", &ServiceSpec::backend, "the postgres service with `ha: patroni` whose leader it passes to"},
      service_keys::duration("check_interval", &ServiceSpec::check_interval, "between two checks of a member's GET /primary",
                   haproxy_default_check_interval, std::chrono::milliseconds(100), std::chrono::minutes(1)),
      {"fall", &ServiceSpec::fall, "failed checks in a row that take a member out (default 3)", 1, 100},
      {"rise", &ServiceSpec::rise, "passed checks in a row that put a member back (default 2)", 1, 100},
  };
  kind.complete = [](ServiceSpec& service) {
    if (service.backend.empty())
      throw ServiceKeyError("", fmt::format("service '{}' of kind haproxy needs a 'backend' (the Patroni cluster it "
                                            "passes to)",
                                            service.name));
  };
  kind.attach = attach_haproxy;
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> { return std::make_unique<HAProxyService>(spec); };
  return kind;
}

}  // namespace firedrill
