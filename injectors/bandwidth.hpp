#pragma once
// `bandwidth`: caps what the target sends `towards` one peer at `rate`, as a saturated or
// undersized link does: what exceeds the rate queues behind it, so the peer receives late rather
// than never. `burst` is how much may pass at once after a quiet spell.
//
// Two ways to apply it, chosen as latency's are. Where the kernel has the htb qdisc and the u32
// filter (tried in a throwaway network namespace, never assumed), an htb qdisc with one class for
// the peer's address goes on the target's interface, in its network namespace (netem.hpp); its
// inverse is the root qdisc's removal, journalled first. Where it does not, or with `via: proxy`,
// the engine places a FaultProxy (injectors/proxy/) on the paths between the target and the peer
// at bring-up, and the fault sets its token bucket in the direction the target sends. A standby
// reaches its primary through ${primary.host}/${primary.port}, so the primary's WAL stream to it
// runs through such a proxy.
//
// When the target is a Postgres primary streaming to the peer (`towards` one of its standbys),
// the fault also watches the replication it starves: every 500 ms while it is in force it reads
// the primary's pg_stat_replication row for the standby and records a `replication.lag` event
// (WAL bytes written but not yet replayed there, and replay_lag); the report's fault details carry
// the last reading and the largest (`replication_lag`), the lag seen before an incident that
// follows.
#include <optional>
#include <string>

#include "injectors/injector.hpp"

namespace firedrill {

enum class BandwidthVia { tc, proxy };

/// How a `bandwidth` step is applied: its `via` when it names one, else tc when the kernel has
/// what it needs, else the proxy.
BandwidthVia bandwidth_via(const StepSpec& step);

class BandwidthInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  static VerbSpec spec();
  static void check_params(const StepSpec& step);
};

namespace bandwidth {

/// A rate as bytes per second: a number and a unit, bits (bit, kbit, mbit, gbit) or bytes (bps,
/// kbps, mbps, gbps) per second, each step a thousand, as tc writes them ("1mbit" → 125000).
/// nullopt for anything else, a bare number included (bits or bytes?).
std::optional<double> bytes_per_second(const std::string& text);

/// A size in bytes: a number with b, kb, mb (1024 each step, as tc reads them) or none.
std::optional<double> size_in_bytes(const std::string& text);

/// The bucket's depth when the step gives no `burst`: 20 ms of the rate, at least 4 KiB (more
/// than one full-size packet).
double default_burst_bytes(double bytes_per_second);

}  // namespace bandwidth
}  // namespace firedrill
