#include "harness/services/redis.hpp"
#include "harness/services/sentinel.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "harness/services/registry.hpp"
#include "harness/services/service.hpp"

namespace firedrill {
namespace {

Scenario with_cache(int sentinels, int replicas, const std::string& persistence = "rdb") {
  Scenario scenario;
  ServiceSpec cache;
  cache.name = "cache";
  cache.kind = "redis";
  cache.image = "firedrill/redis:7";
  cache.persistence = persistence;
  cache.sentinels = sentinels;
  cache.replicas = replicas;
  ServiceSpec app;
  app.name = "app";
  app.kind = "app";
  app.env["REDIS_URL"] = "${cache.url}";
  ServiceSpec other;
  other.name = "worker";
  other.kind = "container";
  other.image = "busybox";
  scenario.services = {cache, app, other};
  return scenario;
}

std::vector<std::string> names_of(const Scenario& scenario) {
  std::vector<std::string> names;
  for (const auto& service : scenario.services) names.push_back(service.name);
  return names;
}

TEST(SentinelServices, AScenarioWithoutSentinelsIsUnchanged) {
  Scenario expanded = with_derived_services(with_cache(0, 0));
  EXPECT_EQ(names_of(expanded), (std::vector<std::string>{"cache", "app", "worker"}));
}

TEST(SentinelServices, ReplicasThenSentinelsFollowTheirMaster) {
  Scenario expanded = with_derived_services(with_cache(3, 2));
  EXPECT_EQ(names_of(expanded), (std::vector<std::string>{"cache", "cache-replica-1", "cache-replica-2", "cache-sentinel-1",
                                                          "cache-sentinel-2", "cache-sentinel-3", "app", "worker"}));
  const ServiceSpec& replica = *expanded.service("cache-replica-2");
  EXPECT_EQ(replica.kind, "redis");
  EXPECT_EQ(replica.standby_of, "cache");
  EXPECT_EQ(replica.image, "firedrill/redis:7");
  // It replicates from the master as the runtime resolves it and announces its own service name.
  EXPECT_EQ(replica.command, (std::vector<std::string>{"--replicaof", "${cache.host}", "${cache.port}",
                                                       "--replica-announce-ip", "cache-replica-2"}));
  const ServiceSpec& sentinel = *expanded.service("cache-sentinel-3");
  EXPECT_EQ(sentinel.kind, "sentinel");
  EXPECT_EQ(sentinel.sentinel_of, "cache");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_MASTER_NAME"), "cache");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_MASTER_HOST"), "${cache.host}");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_MASTER_PORT"), "${cache.port}");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_SENTINEL_NAME"), "cache-sentinel-3");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_QUORUM"), "2");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_EXPECT_REPLICAS"), "2");
  ASSERT_EQ(sentinel.command.size(), 3u);
  EXPECT_NE(sentinel.command[2].find("sentinel resolve-hostnames yes"), std::string::npos);
  EXPECT_NE(sentinel.command[2].find("sentinel announce-hostnames yes"), std::string::npos);
  EXPECT_LT(sentinel.command[2].find("resolve-hostnames"), sentinel.command[2].find("sentinel monitor"));
  EXPECT_NE(sentinel.command[2].find("sentinel monitor $FIREDRILL_MASTER_NAME $FIREDRILL_MASTER_HOST $FIREDRILL_MASTER_PORT"),
            std::string::npos);
}

/// The mode of the sentinel.conf written_configuration wrote last.
unsigned written_mode = 0;

/// The sentinel.conf the script of `sentinel` writes with `announce` added to its environment.
std::string written_configuration(const ServiceSpec& sentinel, const std::map<std::string, std::string>& announce) {
  const std::filesystem::path directory =
      std::filesystem::temp_directory_path() / ("fd-sentinel-conf-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  // Up to the hand-over, written into `directory`: the test wants the configuration, not a sentinel.
  std::string script = sentinel.command[2].substr(0, sentinel.command[2].find("exec redis-sentinel"));
  const std::string target = "cat >/data/sentinel.conf";
  EXPECT_NE(script.find(target), std::string::npos);
  if (script.find(target) != std::string::npos)
    script.replace(script.find(target), target.size(), "cat >" + (directory / "sentinel.conf").string());
  std::string command = "env -i PATH=/usr/bin:/bin";
  std::map<std::string, std::string> environment = sentinel.env;
  environment["FIREDRILL_MASTER_HOST"] = "cache";
  environment["FIREDRILL_MASTER_PORT"] = "6379";
  for (const auto& [key, value] : announce) environment[key] = value;
  for (const auto& [key, value] : environment) command += " " + key + "='" + value + "'";
  const std::filesystem::path script_file = directory / "write.sh";
  std::ofstream(script_file) << script;
  const int status = std::system((command + " /bin/sh " + script_file.string()).c_str());
  EXPECT_EQ(status, 0);
  struct stat status_of_file {};
  written_mode = ::stat((directory / "sentinel.conf").c_str(), &status_of_file) == 0 ? (status_of_file.st_mode & 07777) : 0;
  std::ifstream in(directory / "sentinel.conf");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(directory);
  return text;
}

TEST(SentinelServices, SentinelsAnnounceTheirNameInContainersAndTheRuntimesAddressWhereItGivesOne) {
  Scenario expanded = with_derived_services(with_cache(3, 1));
  const ServiceSpec& sentinel = *expanded.service("cache-sentinel-2");
  const std::string in_container = written_configuration(sentinel, {});
  EXPECT_NE(in_container.find("sentinel announce-ip cache-sentinel-2\n"), std::string::npos) << in_container;
  EXPECT_EQ(in_container.find("announce-port"), std::string::npos) << in_container;
  EXPECT_NE(in_container.find("sentinel monitor cache cache 6379 2\n"), std::string::npos) << in_container;
  const std::string on_loopback =
      written_configuration(sentinel, {{"FIREDRILL_ANNOUNCE_IP", "127.0.0.1"}, {"FIREDRILL_ANNOUNCE_PORT", "41234"}});
  EXPECT_NE(on_loopback.find("sentinel announce-ip 127.0.0.1\nsentinel announce-port 41234\n"), std::string::npos)
      << on_loopback;
}

// The group's password reaches the sentinel's configuration quoted for it (a quote or a backslash
// stays inside its token), in a file only its owner may read; anonymous clients may only ask
// where the master is.
TEST(SentinelServices, TheSentinelsConfigurationHoldsTheGroupsPasswordPrivately) {
  Scenario scenario = with_cache(3, 1);
  for (auto& service : scenario.services)
    if (service.name == "cache") service.env["REDIS_PASSWORD"] = R"(a"b\c d)";
  Scenario expanded = with_derived_services(scenario);
  const ServiceSpec& sentinel = *expanded.service("cache-sentinel-1");
  EXPECT_EQ(sentinel.env.at("REDIS_PASSWORD"), R"(a"b\c d)");
  EXPECT_EQ(expanded.service("cache-replica-1")->env.at("REDIS_PASSWORD"), R"(a"b\c d)");
  EXPECT_EQ(make_service(sentinel)->secrets(), std::vector<std::string>{R"(a"b\c d)"});
  const std::string conf = written_configuration(sentinel, {});
  EXPECT_NE(conf.find(R"(sentinel auth-pass cache "a\"b\\c d")"), std::string::npos) << conf;
  EXPECT_NE(conf.find(R"(sentinel sentinel-pass "a\"b\\c d")"), std::string::npos) << conf;
  EXPECT_NE(conf.find(R"(user firedrill on "&*" "~*" "+@all" ">a\"b\\c d")"), std::string::npos) << conf;
  EXPECT_NE(conf.find("user default on nopass resetchannels -@all +sentinel|get-master-addr-by-name\n"), std::string::npos) << conf;
  EXPECT_LT(conf.find("sentinel monitor"), conf.find("sentinel auth-pass"));
  EXPECT_EQ(written_mode, 0600);
}

TEST(SentinelServices, ReplicasDefaultToOneAndKeepTheMastersPersistence) {
  Scenario expanded = with_derived_services(with_cache(1, 0, "aof"));
  EXPECT_EQ(names_of(expanded), (std::vector<std::string>{"cache", "cache-replica-1", "cache-sentinel-1", "app", "worker"}));
  const auto& command = expanded.service("cache-replica-1")->command;
  ASSERT_GE(command.size(), 2u);
  EXPECT_EQ(command[0], "--appendonly");
  EXPECT_EQ(command[1], "yes");
  EXPECT_EQ(expanded.service("cache-sentinel-1")->env.at("FIREDRILL_QUORUM"), "1");
}

TEST(SentinelServices, TheUrlNamesEverySentinelAndTheMasterName) {
  Scenario expanded = with_derived_services(with_cache(3, 1));
  // The engine resolves each sentinel's address as the runtime lets the viewer reach it.
  EXPECT_EQ(sentinel_url(*expanded.service("cache")),
            "redis-sentinel://${cache-sentinel-1.host}:${cache-sentinel-1.port},${cache-sentinel-2.host}:${cache-sentinel-2.port},"
            "${cache-sentinel-3.host}:${cache-sentinel-3.port}/cache");
  // ${cache.url} is that URL, with the group's password, whatever address the engine would use
  // for the master itself; the replicas share the password.
  const std::string password = expanded.service("cache")->env.at("REDIS_PASSWORD");
  EXPECT_EQ(password.size(), 36u);
  EXPECT_EQ(make_service(*expanded.service("cache"))->url_at("198.18.0.1", 40000),
            sentinel_url(*expanded.service("cache"), password));
  EXPECT_TRUE(sentinel_url(*expanded.service("cache"), password).starts_with("redis-sentinel://:" + password + "@${cache-sentinel-1"));
  EXPECT_EQ(make_service(*expanded.service("cache-replica-1"))->url_at("cache-replica-1", 6379),
            "redis://:" + password + "@cache-replica-1:6379");
  EXPECT_EQ(sentinel_url(*expanded.service("cache"), "a b@c/d"),
            "redis-sentinel://:a%20b%40c%2Fd@${cache-sentinel-1.host}:${cache-sentinel-1.port},"
            "${cache-sentinel-2.host}:${cache-sentinel-2.port},${cache-sentinel-3.host}:${cache-sentinel-3.port}/cache");
}

TEST(SentinelServices, ClientsOfTheGroupStartAfterItsSentinels) {
  Scenario expanded = with_derived_services(with_cache(3, 1));
  EXPECT_EQ(sentinels_to_start_first(expanded, *expanded.service("app")),
            (std::vector<std::string>{"cache-sentinel-1", "cache-sentinel-2", "cache-sentinel-3"}));
  EXPECT_TRUE(sentinels_to_start_first(expanded, *expanded.service("worker")).empty());
  EXPECT_TRUE(sentinels_to_start_first(expanded, *expanded.service("cache-replica-1")).empty());
  EXPECT_TRUE(sentinels_to_start_first(expanded, *expanded.service("cache-sentinel-2")).empty());
}

TEST(SentinelServices, TheGroupMapsServerNamesToPublishedPorts) {
  Scenario expanded = with_derived_services(with_cache(2, 1));
  std::map<std::string, ContainerInfo> containers;
  containers["cache"].host_ports = {{6379, 41001}};
  containers["cache-replica-1"].host_ports = {{6379, 41002}};
  containers["cache-sentinel-1"].host_ports = {{26379, 41003}};
  containers["cache-sentinel-2"].host_ports = {{26379, 41004}};
  containers["app"].host_ports = {{8080, 41005}};
  auto group = sentinel_group(expanded, "cache", containers);
  ASSERT_TRUE(group);
  EXPECT_EQ(group->master_name, "cache");
  EXPECT_EQ(group->sentinel_ports, (std::vector<int>{41003, 41004}));
  EXPECT_EQ(group->published_ports, (std::map<std::string, int>{{"cache", 41001}, {"cache-replica-1", 41002}}));
  EXPECT_FALSE(sentinel_group(expanded, "app", containers));
  EXPECT_FALSE(sentinel_group(expanded, "cache-replica-1", containers));
}

TEST(SentinelServices, ServersOnLoopbackAreAlsoKnownByTheirAddressAndPort) {
  Scenario expanded = with_derived_services(with_cache(1, 1));
  std::map<std::string, ContainerInfo> containers;
  containers["cache"].ip = "127.0.0.1";
  containers["cache"].host_ports = {{6379, 41001}};
  containers["cache-replica-1"].ip = "127.0.0.1";
  containers["cache-replica-1"].host_ports = {{6379, 41002}};
  containers["cache-sentinel-1"].host_ports = {{26379, 41003}};
  auto group = sentinel_group(expanded, "cache", containers);
  ASSERT_TRUE(group);
  EXPECT_EQ(group->published_ports, (std::map<std::string, int>{{"cache", 41001},
                                                                {"127.0.0.1:41001", 41001},
                                                                {"cache-replica-1", 41002},
                                                                {"127.0.0.1:41002", 41002}}));
}

}  // namespace
}  // namespace firedrill
