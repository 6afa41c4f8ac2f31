#pragma once
#include <nlohmann/json.hpp>

#include "injectors/injector.hpp"

namespace firedrill {

/// `dns`: the target cannot resolve the service name `host` (`mode: fail`) or resolves it to an address of the
/// run's network where nothing listens (`mode: wrong`), as when a resolver is down or a record is
/// stale. Connections the target already holds are untouched: only its next lookups fail, as in
/// life. Acts beside the target, in its network sidecar (which shares its hosts file): the hosts
/// file (where the run gives each container its peers' names) loses the name's lines, or gets
/// the wrong one; for `fail` the engine's resolver
/// (127.0.0.11) is also refused to the target's network namespace, so the lookup fails at once
/// rather than being answered from there (other names the hosts file does not hold fail too).
/// Reverting puts the lines back as they were and removes the rule. No query or packet leaves
/// the machine. Needs a runtime whose services have namespaces and hosts files of their own.
class DnsInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  /// The inverse it journals, which `firedrill cleanup` reverts with revert_inverse.
  static constexpr const char* journalled_inverse = "dns";
  static void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);
  static VerbSpec spec();
  static void check_params(const StepSpec& step);
};

namespace dns {

/// The address one past the last host address of an IPv4 subnet in CIDR ("198.18.3.2/24" →
/// "198.18.3.254"): on the run's network, but given to no container of a run (they count up from
/// the bottom). Throws std::invalid_argument for anything else.
std::string unused_address(const std::string& subnet);

/// Reverts a journalled `dns` inverse (used by revert_from_journal).
void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);

}  // namespace dns
}  // namespace firedrill
