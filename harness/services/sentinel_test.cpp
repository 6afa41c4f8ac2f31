#include "harness/services/sentinel.hpp"

#include <gtest/gtest.h>

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
  Scenario expanded = with_sentinel_services(with_cache(0, 0));
  EXPECT_EQ(names_of(expanded), (std::vector<std::string>{"cache", "app", "worker"}));
}

TEST(SentinelServices, ReplicasThenSentinelsFollowTheirMaster) {
  Scenario expanded = with_sentinel_services(with_cache(3, 2));
  EXPECT_EQ(names_of(expanded), (std::vector<std::string>{"cache", "cache-replica-1", "cache-replica-2", "cache-sentinel-1",
                                                          "cache-sentinel-2", "cache-sentinel-3", "app", "worker"}));
  const ServiceSpec& replica = *expanded.service("cache-replica-2");
  EXPECT_EQ(replica.kind, "redis");
  EXPECT_EQ(replica.standby_of, "cache");
  EXPECT_EQ(replica.image, "firedrill/redis:7");
  // It replicates from the master by name and announces its own service name to Sentinel.
  EXPECT_EQ(replica.command, (std::vector<std::string>{"--replicaof", "${cache.host}", "6379", "--replica-announce-ip",
                                                       "cache-replica-2"}));
  const ServiceSpec& sentinel = *expanded.service("cache-sentinel-3");
  EXPECT_EQ(sentinel.kind, "sentinel");
  EXPECT_EQ(sentinel.sentinel_of, "cache");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_MASTER_NAME"), "cache");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_MASTER_HOST"), "${cache.host}");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_SENTINEL_NAME"), "cache-sentinel-3");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_QUORUM"), "2");
  EXPECT_EQ(sentinel.env.at("FIREDRILL_EXPECT_REPLICAS"), "2");
  ASSERT_EQ(sentinel.command.size(), 3u);
  EXPECT_NE(sentinel.command[2].find("sentinel resolve-hostnames yes"), std::string::npos);
  EXPECT_NE(sentinel.command[2].find("sentinel announce-hostnames yes"), std::string::npos);
  EXPECT_LT(sentinel.command[2].find("resolve-hostnames"), sentinel.command[2].find("sentinel monitor"));
}

TEST(SentinelServices, ReplicasDefaultToOneAndKeepTheMastersPersistence) {
  Scenario expanded = with_sentinel_services(with_cache(1, 0, "aof"));
  EXPECT_EQ(names_of(expanded), (std::vector<std::string>{"cache", "cache-replica-1", "cache-sentinel-1", "app", "worker"}));
  const auto& command = expanded.service("cache-replica-1")->command;
  ASSERT_GE(command.size(), 2u);
  EXPECT_EQ(command[0], "--appendonly");
  EXPECT_EQ(command[1], "yes");
  EXPECT_EQ(expanded.service("cache-sentinel-1")->env.at("FIREDRILL_QUORUM"), "1");
}

TEST(SentinelServices, TheUrlNamesEverySentinelAndTheMasterName) {
  Scenario expanded = with_sentinel_services(with_cache(3, 1));
  EXPECT_EQ(sentinel_url(*expanded.service("cache")),
            "redis-sentinel://cache-sentinel-1:26379,cache-sentinel-2:26379,cache-sentinel-3:26379/cache");
  // ${cache.url} seen from any container is that URL, whatever address the engine would use.
  EXPECT_EQ(make_service(*expanded.service("cache"))->url_at("198.18.0.1", 40000), sentinel_url(*expanded.service("cache")));
  EXPECT_EQ(make_service(*expanded.service("cache-replica-1"))->url_at("cache-replica-1", 6379), "redis://cache-replica-1:6379");
}

TEST(SentinelServices, ClientsOfTheGroupStartAfterItsSentinels) {
  Scenario expanded = with_sentinel_services(with_cache(3, 1));
  EXPECT_EQ(sentinels_to_start_first(expanded, *expanded.service("app")),
            (std::vector<std::string>{"cache-sentinel-1", "cache-sentinel-2", "cache-sentinel-3"}));
  EXPECT_TRUE(sentinels_to_start_first(expanded, *expanded.service("worker")).empty());
  EXPECT_TRUE(sentinels_to_start_first(expanded, *expanded.service("cache-replica-1")).empty());
  EXPECT_TRUE(sentinels_to_start_first(expanded, *expanded.service("cache-sentinel-2")).empty());
}

TEST(SentinelServices, TheGroupMapsServerNamesToPublishedPorts) {
  Scenario expanded = with_sentinel_services(with_cache(2, 1));
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

}  // namespace
}  // namespace firedrill
