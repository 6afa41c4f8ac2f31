#pragma once
#include "harness/actions/action.hpp"

namespace firedrill {

/// `repoint` (params `service`, `to`): the DNS-switch step of a runbook. Every other running
/// container of the run resolves `service`'s name to `to`'s address from then on, so a client's
/// next connection reaches the new primary; connections already open are left alone.
///
/// Services find each other through /etc/hosts entries the runtime writes at start (ExtraHosts),
/// and /etc/hosts is read before DNS, so moving a network alias would change nothing: the action
/// rewrites the name's line in each container's /etc/hosts instead, in place (it is a bind mount,
/// which cannot be replaced by a rename). A container whose user may not write the file (the app
/// runs as nobody) is rewritten from its network sidecar, which shares the container's hosts file.
/// Each rewrite is checked with `getent hosts`. The harness itself still reaches `service` at its
/// own published port: a workload that should follow the switch writes through an app.
class RepointAction final : public Action {
 public:
  nlohmann::json run(ActionContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
