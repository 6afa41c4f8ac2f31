#pragma once
// Latency with the kernel's netem qdisc, in a service's network namespace: a prio qdisc with a
// netem band and a u32 filter on the peer's address on the service's interface, so only the
// traffic to that peer is delayed. Not every kernel has netem: it is detected, never assumed.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/duration.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

/// The interface a service's container reaches the run's network on.
inline constexpr const char* interface_in_container = "eth0";

/// Whether this kernel offers the netem qdisc. Tried once per process (with `unshare --net`, so
/// no interface of this machine is touched); false when that cannot be tried (not root, no tc).
bool kernel_has_netem();

/// The tc commands (each run with `sh -c`) that delay the traffic to `peer_address` leaving
/// `device` by `delay` ± `jitter` with netem, and the one that removes them.
std::vector<std::string> netem_commands(const std::string& device, const std::string& peer_address, Duration delay,
                                        Duration jitter);
std::string netem_removal(const std::string& device);

/// Reverts a journalled netem inverse (used by revert_from_journal).
void revert_netem_inverse(Runtime& runtime, const nlohmann::json& inverse);

}  // namespace firedrill
