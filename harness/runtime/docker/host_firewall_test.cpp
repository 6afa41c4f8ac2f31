#include "harness/runtime/docker/host_firewall.hpp"

#include <gtest/gtest.h>

namespace firedrill {
namespace {

TEST(HostFirewall, TheRuleRejectsWhatLeavesTheRangeAndNamesItsRun) {
  EXPECT_EQ(egress_rule_spec("198.18.7.0/24", "20261206-235422-17183ec4baa32592"),
            (std::vector<std::string>{"-s", "198.18.7.0/24", "!", "-d", "198.18.0.0/15", "-m", "comment", "--comment",
                                      "firedrill-run:20261206-235422-17183ec4baa32592", "-j", "REJECT"}));
}

// A journal names the subnet whose rule `cleanup` deletes: only a run network's can be named.
TEST(HostFirewall, OnlyARunNetworksSubnetIsOne) {
  EXPECT_TRUE(is_run_subnet("198.18.7.0/24"));
  EXPECT_TRUE(is_run_subnet("198.19.255.0/24"));
  for (const std::string other : {"198.20.0.0/24", "198.17.255.0/24", "203.0.113.0/24", "198.18.7.0/23", "198.18.7.1/24",
                                  "198.18.0.0/15", "0.0.0.0/0", "198.18.7.0", "198.18.7.0/24 -j ACCEPT", "", "-F"})
    EXPECT_FALSE(is_run_subnet(other)) << other;
}

TEST(HostFirewall, NothingIsInsertedOrDeletedForAnotherSubnet) {
  EXPECT_THROW(insert_egress_rule("203.0.113.0/24", "r"), std::exception);
  EXPECT_THROW(delete_egress_rule("0.0.0.0/0", "r"), std::exception);
}

}  // namespace
}  // namespace firedrill
