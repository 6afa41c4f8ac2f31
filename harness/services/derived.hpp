#pragma once
// The services a declared one derives: a postgres's standbys, a Patroni cluster's etcd and
// members, a Sentinel-managed redis's replicas and sentinels. Each kind says what it derives
// (registry.hpp), once, when the scenario is loaded, so every command sees the topology that runs.
#include <string>
#include <vector>

#include "core/model.hpp"

namespace firedrill {

/// One service of a declared service's expansion: the declared service itself as it runs (role
/// empty), or one it derives, with what that one is to its owner ("a standby", "a sentinel") for
/// the loader's messages.
struct ExpandedService {
  ServiceSpec spec;
  std::string role;
};

/// The passwords an expansion generates, remembered so that each run can replace them
/// (with_fresh_secrets in registry.hpp).
class GeneratedSecrets {
 public:
  /// A new random password (random_secret), remembered.
  std::string make();
  const std::vector<std::string>& all() const { return secrets_; }

 private:
  std::vector<std::string> secrets_;
};

}  // namespace firedrill
