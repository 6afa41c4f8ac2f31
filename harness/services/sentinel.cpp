#include "harness/services/sentinel.hpp"

#include <sstream>

#include <fmt/format.h>

#include "harness/services/connection_string.hpp"
#include "harness/services/redis_settings.hpp"

namespace firedrill {
namespace {

// redis-sentinel rewrites its configuration file, so it is written afresh at each start.
// resolve-hostnames must come before `monitor`, which names the master by its service name.
// A runtime whose service names do not resolve (process) sets FIREDRILL_ANNOUNCE_IP and
// FIREDRILL_ANNOUNCE_PORT to where the others reach this sentinel; containers announce their name.
// Anyone may ask where the master is (what Sentinel-aware clients do before they authenticate to
// the master); everything else, reconfiguring or failing the group over included, takes the
// group's password as the user `firedrill`, which the sentinels also use with each other. The
// file holding the password is private (umask), and printf is the shell's own.
constexpr const char* sentinel_script = R"SH(set -eu
umask 077
password=$(printf '%s' "$REDIS_PASSWORD" | sed 's/[\\"]/\\&/g')
cat >/data/sentinel.conf <<CONF
port 26379
bind 0.0.0.0
protected-mode no
dir /data
user default on nopass resetchannels -@all +sentinel|get-master-addr-by-name
user firedrill on "&*" "~*" "+@all" ">$password"
sentinel sentinel-user firedrill
sentinel sentinel-pass "$password"
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip ${FIREDRILL_ANNOUNCE_IP:-$FIREDRILL_SENTINEL_NAME}
${FIREDRILL_ANNOUNCE_PORT:+sentinel announce-port $FIREDRILL_ANNOUNCE_PORT}
sentinel monitor $FIREDRILL_MASTER_NAME $FIREDRILL_MASTER_HOST $FIREDRILL_MASTER_PORT $FIREDRILL_QUORUM
sentinel auth-pass $FIREDRILL_MASTER_NAME "$password"
sentinel down-after-milliseconds $FIREDRILL_MASTER_NAME $FIREDRILL_DOWN_AFTER_MS
sentinel failover-timeout $FIREDRILL_MASTER_NAME $FIREDRILL_FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $FIREDRILL_MASTER_NAME 1
CONF
exec redis-sentinel /data/sentinel.conf
)SH";

std::vector<std::string> group_names(const ServiceSpec& master, const char* role, int count) {
  std::vector<std::string> names;
  for (int i = 1; i <= count; ++i) names.push_back(derived_service_name(master.name, role, i));
  return names;
}

bool refers_to(const ServiceSpec& spec, const std::string& service) {
  const std::string reference = "${" + service + ".";
  for (const auto& [key, value] : spec.env)
    if (value.find(reference) != std::string::npos) return true;
  for (const auto& argument : spec.command)
    if (argument.find(reference) != std::string::npos) return true;
  return false;
}

// The integer following the line `field` in redis-cli's one-item-a-line output of a map reply.
std::optional<int> field_of(const std::string& output, const std::string& field) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line != field) continue;
    if (!std::getline(lines, line)) return std::nullopt;
    try {
      return std::stoi(line);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<ExpandedService> with_replicas_and_sentinels(const ServiceSpec& declared, GeneratedSecrets& secrets) {
  ServiceSpec master = declared;
  // The group shares one password: the master's, generated here unless the scenario sets it.
  if (!master.env.count(redis_password_env)) master.env[redis_password_env] = secrets.make();
  std::vector<ExpandedService> expanded = {{master, ""}};
  const int replicas = std::max(master.replicas, 1);
  // The references make the engine start the replicas and sentinels after the master is ready.
  const std::string master_host = fmt::format("${{{}.host}}", master.name);
  const std::string master_port = fmt::format("${{{}.port}}", master.name);
  for (const auto& name : group_names(master, "replica", replicas)) {
    ServiceSpec replica;
    replica.name = name;
    replica.kind = "redis";
    replica.image = master.image;
    replica.persistence = master.persistence;
    replica.env = master.env;
    replica.command = redis_persistence_arguments(master.persistence);
    for (const std::string& argument :
         {std::string("--replicaof"), master_host, master_port, std::string("--replica-announce-ip"), name})
      replica.command.push_back(argument);
    replica.standby_of = master.name;
    replica.where = master.where;
    expanded.push_back({replica, "a replica"});
  }
  for (const auto& name : group_names(master, "sentinel", master.sentinels)) {
    ServiceSpec sentinel;
    sentinel.name = name;
    sentinel.kind = "sentinel";
    sentinel.image = master.image;
    sentinel.env = {{"FIREDRILL_SENTINEL_NAME", name},
                    {"FIREDRILL_MASTER_NAME", master.name},
                    {"FIREDRILL_MASTER_HOST", master_host},
                    {"FIREDRILL_MASTER_PORT", master_port},
                    {"FIREDRILL_QUORUM", std::to_string(master.sentinels / 2 + 1)},
                    {"FIREDRILL_DOWN_AFTER_MS", std::to_string(sentinel_down_after_ms)},
                    {"FIREDRILL_FAILOVER_TIMEOUT_MS", std::to_string(sentinel_failover_timeout_ms)},
                    {"FIREDRILL_EXPECT_REPLICAS", std::to_string(replicas)},
                    {"FIREDRILL_EXPECT_SENTINELS", std::to_string(master.sentinels)},
                    {redis_password_env, master.env.at(redis_password_env)},
                    {"REDISCLI_AUTH", master.env.at(redis_password_env)}};
    sentinel.command = {"/bin/sh", "-c", sentinel_script};
    sentinel.sentinel_of = master.name;
    sentinel.where = master.where;
    expanded.push_back({sentinel, "a sentinel"});
  }
  return expanded;
}

std::vector<std::string> sentinels_to_start_first(const Scenario& scenario, const ServiceSpec& spec) {
  std::vector<std::string> names;
  for (const auto& master : scenario.services) {
    if (master.kind != "redis" || master.sentinels == 0 || master.name == spec.name) continue;
    if (spec.standby_of == master.name || spec.sentinel_of == master.name || !refers_to(spec, master.name)) continue;
    for (const auto& name : group_names(master, "sentinel", master.sentinels)) names.push_back(name);
  }
  return names;
}

std::optional<SentinelGroup> sentinel_group(const Scenario& scenario, const std::string& service,
                                            const std::map<std::string, ContainerInfo>& containers) {
  const ServiceSpec* master = scenario.service(service);
  if (master == nullptr || master->kind != "redis" || master->sentinels == 0) return std::nullopt;
  SentinelGroup group;
  group.master_name = master->name;
  for (const auto& spec : scenario.services) {
    const auto container = containers.find(spec.name);
    if (container == containers.end()) continue;
    const auto& ports = container->second.host_ports;
    if (spec.sentinel_of == master->name && ports.count(sentinel_port))
      group.sentinel_ports.push_back(ports.at(sentinel_port));
    if ((spec.name == master->name || spec.standby_of == master->name) && ports.count(6379)) {
      group.published_ports[spec.name] = ports.at(6379);
      // A server on this machine's loopback announces that address and the port it listens on.
      if (container->second.ip == "127.0.0.1")
        group.published_ports[fmt::format("127.0.0.1:{}", ports.at(6379))] = ports.at(6379);
    }
  }
  return group;
}

ProbeConfig SentinelService::readiness_probe(const ContainerInfo& info) const {
  ProbeConfig probe = readiness_probe_of("tcp", std::chrono::milliseconds(500));
  probe.port = info.host_ports.at(sentinel_port);
  return probe;
}

std::vector<std::string> SentinelService::secrets() const {
  const auto password = spec_.env.find(redis_password_env);
  if (password == spec_.env.end()) return {};
  return {password->second};
}

bool SentinelService::ready_precondition(Runtime& runtime, std::string& why_not) const {
  const std::string& master = spec_.env.at("FIREDRILL_MASTER_NAME");
  // Inside its container the sentinel listens on sentinel_port; on a runtime that chose another
  // port for it, on that one. Either is where its peers reach it.
  const int listening = runtime.peer_address(spec_.name, sentinel_port).port;
  const ExecResult answer = runtime.exec(
      spec_.name, {"redis-cli", "--user", "firedrill", "-p", std::to_string(listening), "SENTINEL", "master", master},
      std::chrono::seconds(2));
  const auto replicas = field_of(answer.output, "num-slaves");
  const auto others = field_of(answer.output, "num-other-sentinels");
  const int expected_replicas = std::stoi(spec_.env.at("FIREDRILL_EXPECT_REPLICAS"));
  const int expected_others = std::stoi(spec_.env.at("FIREDRILL_EXPECT_SENTINELS")) - 1;
  // A sentinel that does not yet know every replica and peer could not fail over as the drill
  // expects: no replica to promote, no majority to elect a leader.
  if (answer.exit_code == 0 && replicas && others && *replicas >= expected_replicas && *others >= expected_others)
    return true;
  why_not = fmt::format("the sentinel sees {} of {} replicas and {} of {} other sentinels of '{}'", replicas.value_or(0),
                        expected_replicas, others.value_or(0), expected_others, master);
  return false;
}

ServiceKind SentinelService::kind() {
  ServiceKind kind;
  kind.name = "sentinel";
  kind.help = "a redis-sentinel of a redis with `sentinels` (derived, never declared)";
  kind.declarable = false;
  kind.default_image = "firedrill/redis:7";
  kind.reference_fields = {"password"};
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> { return std::make_unique<SentinelService>(spec); };
  return kind;
}

}  // namespace firedrill
