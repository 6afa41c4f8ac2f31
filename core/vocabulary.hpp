#pragma once
// What a scenario may say: the faults, actions and checks the registries hold, with their
// parameters. The loader validates against it; `firedrill faults|actions|checks` prints it.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace firedrill {

enum class ParamType { string, integer, number, boolean, duration, percent, service, string_list, service_list };
const char* to_string(ParamType type);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::string;
  bool required = false;
  std::string help;
};

/// What a step may ask of the runtime beyond its core (the capabilities of
/// harness/runtime/runtime.hpp, by name, so the loader can refuse a step the chosen runtime
/// cannot serve).
enum class Capability { process_control, network_namespaces, file_access, storage };
const char* to_string(Capability capability);

/// A path from a client service to a peer it connects to.
struct NetworkPath {
  std::string client;
  std::string peer;
  auto operator<=>(const NetworkPath&) const = default;
};

/// The network paths a step acts on, for the engine to place fault proxies on at bring-up.
struct StepPaths {
  std::vector<NetworkPath> paths;
  /// The step acts on its paths' proxies on every runtime (a latency `via: proxy`); otherwise
  /// only where the runtime takes network faults on proxies.
  bool proxied_on_every_runtime = false;
};

struct VerbSpec {
  std::string name;
  std::string help;
  bool needs_target = true;  // the step must name a service in `target:`
  std::vector<ParamSpec> params;
  /// How the parameters must combine, beyond each one's type (e.g. exactly one of two); throws
  /// std::invalid_argument with the reason. Run by the loader, so `validate` catches it.
  std::function<void(const StepSpec&)> check_combination = {};
  /// What the step needs of the runtime; the loader refuses it on a runtime without that.
  std::function<std::vector<Capability>(const StepSpec&)> needs = {};
  /// The network paths the step acts on (a network fault's, a name a failover moves).
  std::function<StepPaths(const StepSpec&, const Scenario&)> paths = {};
  /// What the step needs of a service before the service starts (a filesystem small enough to
  /// fill, say): called at bring-up with every service of the run.
  std::function<void(const StepSpec&, ServiceSpec&)> prepare_service = {};
};

/// Needs that do not depend on the step's parameters.
inline std::function<std::vector<Capability>(const StepSpec&)> always_needs(std::vector<Capability> needed) {
  return [needed = std::move(needed)](const StepSpec&) { return needed; };
}

struct Vocabulary {
  std::map<std::string, VerbSpec> faults;
  std::map<std::string, VerbSpec> actions;
  std::map<std::string, VerbSpec> checks;  // key is the check's word (rto, rpo, ...)
};

/// The paths a scenario's steps need fault proxies on, each once, in the order the steps name
/// them: every path a step acts on when the runtime takes network faults on proxies
/// (`faults_on_proxies`), else only those of steps proxied on every runtime.
std::vector<NetworkPath> paths_needing_proxies(const Scenario& scenario, const Vocabulary& vocabulary,
                                               bool faults_on_proxies);

/// Adds a registry entry under its word. Two entries with one word are a programming error that
/// must not reach a user as a silently shadowed fault/action/check: it aborts at start-up.
template <typename Entry>
void register_unique(std::map<std::string, Entry>& registry, const std::string& word, Entry entry, const char* what) {
  if (!registry.emplace(word, std::move(entry)).second) {
    std::fprintf(stderr, "firedrill: internal error: %s '%s' registered twice\n", what, word.c_str());
    std::abort();
  }
}

}  // namespace firedrill
