#pragma once
// Latency and bandwidth with the kernel's queueing disciplines, in a service's network namespace,
// each on the traffic to one peer only (a u32 filter on the peer's address on the service's
// interface). Latency: a prio qdisc with a netem band. Bandwidth: an htb qdisc whose one class,
// a token bucket of the rate and burst, takes the peer's traffic; the rest passes unshaped. htb
// rather than tbf under prio: tbf is classless, so it needs prio to reach one peer only, and prio
// is missing from some kernels that have htb. Neither netem nor htb is in every kernel: each is
// detected, never assumed.
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
/// Removes what netem_commands or rate_limit_commands added: the device's root qdisc.
std::string netem_removal(const std::string& device);

/// Whether this kernel offers what rate_limit_commands uses (the htb qdisc and the u32 filter).
/// Tried once per process, like kernel_has_netem.
bool kernel_has_rate_limit();

/// The tc commands that cap the traffic to `peer_address` leaving `device` at `bytes_per_second`,
/// with a bucket of `burst_bytes` (what may leave at once after a quiet spell).
std::vector<std::string> rate_limit_commands(const std::string& device, const std::string& peer_address,
                                             double bytes_per_second, double burst_bytes);

/// Reverts a journalled netem inverse, a latency's or a bandwidth's (used by revert_from_journal).
void revert_netem_inverse(Runtime& runtime, const nlohmann::json& inverse);

}  // namespace firedrill
