#pragma once
// What keeps a run's containers on this machine whatever engine runs them. The run's network has
// no masquerading, but an engine still forwards what a container sends elsewhere, with its
// 198.18.x source address. ci/setup adds one machine-wide rule for that (DOCKER-USER); an engine
// set up otherwise has none. So each run, as root, also puts a rule of its own first in Docker's
// DOCKER-USER chain (FORWARD where the engine made none): anything from its subnet to outside
// 198.18.0.0/15 is rejected at once.
// The rule carries the run's id as its comment, is journalled (kind egress_rule_kind, name the
// subnet) before it is inserted, and is deleted by teardown, `cleanup` and the reaper.
#include <string>
#include <vector>

namespace firedrill {

inline constexpr const char* egress_rule_kind = "egress-rule";

/// The iptables rule specification (after the chain) for `subnet` of run `run_id`:
/// -s SUBNET ! -d 198.18.0.0/15 -m comment --comment firedrill-run:RUN_ID -j REJECT.
std::vector<std::string> egress_rule_spec(const std::string& subnet, const std::string& run_id);

/// True when `subnet` is a /24 inside 198.18.0.0/15, as firedrill's run networks are: a journal
/// can name no other rule for deletion.
bool is_run_subnet(const std::string& subnet);

/// True when this process can change this machine's firewall: root, with iptables installed.
bool can_change_host_firewall();

/// Inserts the rule first in DOCKER-USER (else FORWARD) unless it is there already. Throws EnvironmentError with
/// iptables' own words when it cannot.
void insert_egress_rule(const std::string& subnet, const std::string& run_id);

/// Deletes every copy of the rule; false when there was none. Throws EnvironmentError when
/// iptables fails otherwise.
bool delete_egress_rule(const std::string& subnet, const std::string& run_id);

/// Deletes every rule of DOCKER-USER and FORWARD that carries run_id's comment, found by it rather
/// than by a journal (`down`, `cleanup` of a run by its labels); returns how many subnets' rules.
int delete_egress_rules_of(const std::string& run_id);

/// How many rules of DOCKER-USER and FORWARD carry run_id's comment (what a test checks was left behind).
int count_egress_rules(const std::string& run_id);

}  // namespace firedrill
