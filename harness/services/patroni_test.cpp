#include "harness/services/patroni.hpp"

#include <set>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "harness/scenario/loader.hpp"
#include "harness/services/registry.hpp"
#include "harness/services/standby.hpp"

namespace firedrill {
namespace {

Scenario with_cluster(int members, bool sync) {
  Scenario scenario;
  ServiceSpec db;
  db.name = "db";
  db.kind = "postgres";
  db.image = "firedrill/postgres:15";
  db.ha = "patroni";
  db.members = members;
  db.sync = sync;
  db.env["POSTGRES_USER"] = "shop";
  ServiceSpec app;
  app.name = "app";
  app.kind = "app";
  app.env["DATABASE_URL"] = "${db.url}";
  scenario.services = {db, app};
  return scenario;
}

const ServiceSpec& named(const Scenario& scenario, const std::string& name) {
  const ServiceSpec* found = scenario.service(name);
  if (!found) throw std::runtime_error("no service " + name);
  return *found;
}

/// A runtime whose containers publish fixed loopback ports nothing listens on, so the cluster
/// service's REST calls fail at once and only what it derives from the ports shows.
class PublishedPortsRuntime final : public Runtime {
 public:
  std::string name() const override { return "published-ports"; }
  void begin_run(const std::string&, const std::string&, const Owner&, BeforeCreate) override {}
  ContainerInfo start(const ContainerSpec& spec) override { return inspect(spec.service); }
  ContainerInfo inspect(const std::string& service) override {
    ContainerInfo info;
    info.name = service;
    info.image_id = "sha256:" + service;
    const int base = service == "db-1" ? 1 : service == "db-2" ? 3 : 5;
    info.host_ports = {{5432, base}, {patroni_rest_port, base + 1}};
    return info;
  }
  ExecResult exec(const std::string&, const std::vector<std::string>&, std::chrono::milliseconds) override { return {}; }
  bool is_running(const std::string&) override { return true; }
  std::string read_logs(const std::string&, std::optional<int>) override { return {}; }
  void teardown() override {}
};

TEST(PatroniServices, AScenarioWithoutHaIsUnchanged) {
  Scenario plain = with_cluster(3, false);
  plain.services[0].ha.clear();
  Scenario expanded = with_derived_services(plain);
  ASSERT_EQ(expanded.services.size(), 2u);
  EXPECT_FALSE(expanded.services[0].env.count("POSTGRES_PASSWORD"));
}

TEST(PatroniServices, TheClusterIsExpandedIntoEtcdThenItsMembersThenItself) {
  Scenario expanded = with_derived_services(with_cluster(3, false));
  std::vector<std::string> names;
  for (const auto& service : expanded.services) names.push_back(service.name);
  EXPECT_EQ(names, (std::vector<std::string>{"db-etcd", "db-1", "db-2", "db-3", "db", "app"}));

  const ServiceSpec& etcd = named(expanded, "db-etcd");
  EXPECT_EQ(etcd.kind, "container");
  EXPECT_EQ(etcd.member_of, "db");
  EXPECT_EQ(etcd.port, etcd_client_port);
  EXPECT_EQ(etcd.image, "firedrill/base:bookworm");
  ASSERT_EQ(etcd.command.size(), 3u);
  // Loopback-free: etcd listens on its own network address, found in its hosts entry.
  EXPECT_NE(etcd.command[2].find("--listen-client-urls \"http://$self:2379\""), std::string::npos);
  EXPECT_EQ(etcd.command[2].find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(etcd.command[2].find("localhost"), std::string::npos);

  const ServiceSpec& cluster = named(expanded, "db");
  const std::string password = cluster.env.at("POSTGRES_PASSWORD");
  EXPECT_EQ(password.size(), 36u);
  EXPECT_EQ(cluster.ha, "patroni");
  EXPECT_EQ(cluster.env.at("FIREDRILL_PATRONI_MEMBERS"), "${db-1.host},${db-2.host},${db-3.host}");

  std::set<std::string> replication_passwords;
  for (const std::string name : {"db-1", "db-2", "db-3"}) {
    const ServiceSpec& member = named(expanded, name);
    EXPECT_EQ(member.kind, "postgres");
    EXPECT_EQ(member.member_of, "db");
    EXPECT_TRUE(member.ha.empty()) << "a member must not expand again";
    EXPECT_EQ(member.image, "firedrill/postgres:15");
    EXPECT_EQ(member.env.at("FIREDRILL_MEMBER_NAME"), name);
    EXPECT_EQ(member.env.at("PATRONI_ETCD3_HOSTS"), "${db-etcd.host}:2379");
    EXPECT_EQ(member.env.at("PATRONI_SUPERUSER_USERNAME"), "shop");
    EXPECT_EQ(member.env.at("PATRONI_SUPERUSER_PASSWORD"), password);
    EXPECT_EQ(member.env.at("POSTGRES_PASSWORD"), password);
    EXPECT_EQ(member.env.at("PATRONI_REPLICATION_USERNAME"), replication_role);
    EXPECT_EQ(member.env.at("FIREDRILL_DATABASE"), "shop");
    EXPECT_EQ(member.env.at("FIREDRILL_PATRONI_CONFIG"), patroni_configuration(cluster));
    EXPECT_FALSE(member.env.count("FIREDRILL_PATRONI_MEMBERS"));
    ASSERT_EQ(member.command.size(), 3u);
    EXPECT_NE(member.command[2].find("exec setpriv --reuid postgres"), std::string::npos);
    replication_passwords.insert(member.env.at("PATRONI_REPLICATION_PASSWORD"));
  }
  ASSERT_EQ(replication_passwords.size(), 1u) << "the members must share one replication password";
  EXPECT_NE(*replication_passwords.begin(), password);
}

TEST(PatroniServices, AScenarioPasswordIsKept) {
  Scenario scenario = with_cluster(2, false);
  scenario.services[0].env["POSTGRES_PASSWORD"] = "chosen";
  Scenario expanded = with_derived_services(scenario);
  EXPECT_EQ(named(expanded, "db").env.at("POSTGRES_PASSWORD"), "chosen");
  EXPECT_EQ(named(expanded, "db-2").env.at("PATRONI_SUPERUSER_PASSWORD"), "chosen");
  EXPECT_EQ(expanded.service("db-3"), nullptr);
}

TEST(PatroniServices, TheConfigurationCarriesTheShortTimingsAndNoSecret) {
  static_assert(patroni_timings.loop_wait + 2 * patroni_timings.retry_timeout <= patroni_timings.ttl,
                "Patroni requires loop_wait + 2 * retry_timeout <= ttl");
  Scenario expanded = with_derived_services(with_cluster(3, true));
  const ServiceSpec& cluster = named(expanded, "db");
  const std::string text = patroni_configuration(cluster);
  YAML::Node config = YAML::Load(text);
  EXPECT_EQ(config["scope"].as<std::string>(), "db");
  EXPECT_EQ(config["etcd3"]["hosts"].as<std::string>(), "db-etcd:2379");
  EXPECT_EQ(config["restapi"]["listen"].as<std::string>(), "0.0.0.0:8008");
  const YAML::Node dcs = config["bootstrap"]["dcs"];
  EXPECT_EQ(dcs["ttl"].as<int>(), 10);
  EXPECT_EQ(dcs["loop_wait"].as<int>(), 1);
  EXPECT_EQ(dcs["retry_timeout"].as<int>(), 3);
  EXPECT_TRUE(dcs["synchronous_mode"].as<bool>());
  EXPECT_EQ(config["postgresql"]["bin_dir"].as<std::string>(), "/usr/lib/postgresql/15/bin");
  EXPECT_EQ(config["postgresql"]["basebackup"][0]["checkpoint"].as<std::string>(), "fast");
  EXPECT_EQ(text.find(cluster.env.at("POSTGRES_PASSWORD")), std::string::npos);
  EXPECT_EQ(text.find("password:"), std::string::npos);

  const ServiceSpec& member = named(expanded, "db-1");
  EXPECT_EQ(text.find(member.env.at("PATRONI_REPLICATION_PASSWORD")), std::string::npos);

  Scenario asynchronous = with_derived_services(with_cluster(3, false));
  EXPECT_FALSE(YAML::Load(patroni_configuration(named(asynchronous, "db")))["bootstrap"]["dcs"]["synchronous_mode"].as<bool>());
}

TEST(PatroniServices, TheFailoverWindowFollowsFromTheTimings) {
  EXPECT_EQ(patroni_failover_window(), std::chrono::seconds(14));
  EXPECT_EQ(patroni_failover_window(PatroniTimings{30, 10, 10}), std::chrono::seconds(50));
}

TEST(PatroniServices, UrlsListEveryMemberAndAskForTheWritableOne) {
  EXPECT_EQ(patroni_url({{"db-1", 5432}, {"db-2", 5432}}, "shop", "pw", "orders"),
            "postgresql://shop:pw@db-1:5432,db-2:5432/orders?target_session_attrs=read-write&connect_timeout=2");
  EXPECT_EQ(patroni_conninfo({41001, 41002, 41003}, "shop", "pw", "orders"),
            "host=127.0.0.1,127.0.0.1,127.0.0.1 port=41001,41002,41003 user=shop password=pw dbname=orders "
            "connect_timeout=2 target_session_attrs=read-write");
}

TEST(PatroniServices, TheClusterServiceGivesOtherContainersAMultiHostUrl) {
  Scenario expanded = with_derived_services(with_cluster(3, false));
  auto service = make_service(named(expanded, "db"));
  ASSERT_NE(dynamic_cast<PatroniClusterService*>(service.get()), nullptr);
  const std::string password = named(expanded, "db").env.at("POSTGRES_PASSWORD");
  EXPECT_EQ(service->url_in_network(), "postgresql://shop:" + password +
                                           "@db-1:5432,db-2:5432,db-3:5432/shop?target_session_attrs=read-write&connect_timeout=2");
  // Through a fault proxy there is one address to give.
  EXPECT_EQ(service->url_at("198.18.4.1", 40123), "postgresql://shop:" + password + "@198.18.4.1:40123/shop");
  EXPECT_EQ(service->secrets(), std::vector<std::string>{password});

  EXPECT_NE(dynamic_cast<PatroniMemberService*>(make_service(named(expanded, "db-2")).get()), nullptr);
  EXPECT_NE(dynamic_cast<EtcdService*>(make_service(named(expanded, "db-etcd")).get()), nullptr);
}

TEST(PatroniServices, TheHarnessReachesTheClusterOverEveryMembersPublishedPort) {
  Scenario expanded = with_derived_services(with_cluster(3, false));
  auto service = make_service(named(expanded, "db"));
  PublishedPortsRuntime runtime;
  ContainerInfo started = service->start(runtime, [](const std::string& text) { return text; });
  EXPECT_EQ(started.name, "db");
  EXPECT_TRUE(started.id.empty()) << "the cluster has no container of its own";
  ContainerInfo info = service->inspect(runtime);
  const std::string password = named(expanded, "db").env.at("POSTGRES_PASSWORD");
  EXPECT_EQ(service->harness_conninfo(info), "host=127.0.0.1,127.0.0.1,127.0.0.1 port=1,3,5 user=shop password=" +
                                                 password + " dbname=shop connect_timeout=2 target_session_attrs=read-write");
  // No REST API answers, so no leader is known: the first member stands for the endpoint.
  EXPECT_EQ(info.host_ports.at(5432), 1);
  EXPECT_THROW(service->fault_target(runtime), std::runtime_error);

  auto member = make_service(named(expanded, "db-3"));
  ContainerSpec container = member->container_spec([](const std::string& text) { return text; });
  EXPECT_EQ(container.ports, (std::vector<int>{5432, patroni_rest_port}));
  EXPECT_EQ(member->harness_conninfo(runtime.inspect("db-3")),
            "host=127.0.0.1 port=5 user=shop password=" + password + " dbname=shop connect_timeout=2");
  auto secrets = member->secrets();
  ASSERT_EQ(secrets.size(), 4u);
  EXPECT_EQ(secrets[0], password);
  // The REST API's password, for its unsafe requests: generated, the same for every member.
  EXPECT_EQ(secrets[2].size(), 36u);
  EXPECT_EQ(named(expanded, "db-1").env.at("PATRONI_RESTAPI_PASSWORD"), secrets[2]);
  EXPECT_EQ(named(expanded, "db-3").env.at("PATRONI_RESTAPI_USERNAME"), "firedrill");
  // etcd's root password, which the members log in with and etcd is given.
  EXPECT_EQ(secrets[3].size(), 36u);
  EXPECT_EQ(named(expanded, "db-etcd").env.at("FIREDRILL_ETCD_PASSWORD"), secrets[3]);
  EXPECT_EQ(named(expanded, "db-2").env.at("PATRONI_ETCD3_USERNAME"), "root");
  EXPECT_EQ(make_service(named(expanded, "db-etcd"))->secrets(), std::vector<std::string>{secrets[3]});
}

TEST(PatroniServices, TheLeaderIsTheRunningMemberWithTheLeaderRole) {
  EXPECT_EQ(leader_in_cluster_status(R"({"members": [
      {"name": "db-1", "role": "replica", "state": "running"},
      {"name": "db-2", "role": "leader", "state": "running"},
      {"name": "db-3", "role": "sync_standby", "state": "running"}]})"),
            "db-2");
  EXPECT_EQ(leader_in_cluster_status(R"({"members": [{"name": "db-1", "role": "leader", "state": "stopped"}]})"),
            std::nullopt);
  EXPECT_EQ(leader_in_cluster_status(R"({"members": [{"name": "db-1", "role": "replica", "state": "running"}]})"),
            std::nullopt);
  EXPECT_EQ(leader_in_cluster_status("not json"), std::nullopt);
}

Vocabulary kill_only() {
  Vocabulary vocabulary;
  vocabulary.faults["kill"] = VerbSpec{"kill", "send a signal", true, {}};
  return vocabulary;
}

const std::string cluster_head = "version: 1\nname: t\nservices:\n";

std::string load_error(const std::string& services) {
  try {
    parse_scenario(cluster_head + services, "x.yaml", LoadOptions{kill_only(), {}});
  } catch (const std::exception& error) {
    return error.what();
  }
  return "no error";
}

TEST(PatroniScenario, HaDefaultsToThreeMembersThatStepsMayName) {
  const Scenario scenario = parse_scenario(cluster_head +
                                               "  db: { kind: postgres, ha: patroni, sync: true }\n"
                                               "steps:\n"
                                               "  - { name: second member dies, fault: kill, target: db-2 }\n"
                                               "  - { name: etcd dies, fault: kill, target: db-etcd }\n"
                                               "  - { name: leader dies, fault: kill, target: db }\n",
                                           "x.yaml", LoadOptions{kill_only(), {}});
  std::vector<std::string> names;
  for (const auto& service : scenario.services) names.push_back(service.name);
  EXPECT_EQ(names, (std::vector<std::string>{"db-etcd", "db-1", "db-2", "db-3", "db"})) << "derived once, at load";
  const ServiceSpec* cluster = scenario.service("db");
  ASSERT_NE(cluster, nullptr);
  EXPECT_EQ(cluster->ha, "patroni");
  EXPECT_EQ(cluster->members, 3);
  EXPECT_TRUE(cluster->sync);
  ASSERT_EQ(scenario.probes.size(), 1u);
  EXPECT_EQ(scenario.probes[0].service, "db") << "the cluster is probed as one service";
}

TEST(PatroniScenario, MisusesAreNamed) {
  EXPECT_NE(load_error("  db: { kind: postgres, ha: stolon }\n").find("unknown ha 'stolon': expected patroni"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres, members: 3 }\n").find("'members' needs 'ha: patroni'"), std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres, ha: patroni, standbys: 1 }\n").find("'standbys' and 'ha' exclude each other"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres, ha: patroni, members: 9 }\n").find("members"), std::string::npos);
  EXPECT_NE(load_error("  cache: { kind: redis, ha: patroni }\n").find("'ha' applies only to postgres services"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres, ha: patroni }\n  db-2: { kind: redis }\n").find("db-2"), std::string::npos);
}

}  // namespace
}  // namespace firedrill
