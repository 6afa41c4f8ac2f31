#pragma once
// The scenario reader: a checked YAML tree (yaml_tree.hpp) into the model, section by section:
// reader.cpp the top level, targets, probes and checks; reader_workload.cpp the writers and their
// contracts; reader_services.cpp the services; reader_steps.cpp the steps and their parameters.
// Private to the loader.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/duration.hpp"
#include "core/model.hpp"
#include "core/vocabulary.hpp"
#include "harness/scenario/diagnostics.hpp"
#include "harness/scenario/load_options.hpp"
#include "harness/scenario/yaml_tree.hpp"
#include "harness/services/kinds.hpp"

namespace firedrill::scenario_yaml {

/// Lowercase letters, digits and '-', at most 63 (a DNS label); a letter first when asked.
bool matches_name(std::string_view name, bool letter_first);

/// A whole decimal integer, or nothing (out_of_range set when it has too many digits).
std::optional<long long> parse_integer(std::string_view text, bool& out_of_range);

class ScenarioReader {
 public:
  ScenarioReader(const LoadOptions& options, Scenario& scenario) : options_(options), scenario_(scenario) {}
  void read(const Node& root);
 private:
  SourceLocation location(Pos where) const { return SourceLocation{scenario_.file, where.line, where.column}; }
  static void check_keys(const Node& map, const std::vector<std::string>& allowed, std::string_view context);
  static const Node& expect(const Node& node, Node::Kind kind, std::string_view subject);
  static std::string scalar(const Node& node, std::string_view subject);
  /// The required `name` of a list item (a workload, a probe), unique among its kind.
  std::string unique_name(const Node& spec, std::set<std::string>& names, std::string_view kind);
  static std::string non_empty(const Node& node, std::string_view subject);
  static int integer(const Node& node, std::string_view subject, long long low, long long high);
  static bool boolean(const Node& node, std::string_view subject);
  static Duration duration(const Node& node, std::string_view subject);
  static std::vector<std::string> scalar_list(const Node& node, std::string_view subject);
  std::vector<std::string> service_names() const { return keys_of(kinds_); }
  std::vector<std::string> component_names() const;
  /// The kind of the named service (declared or a postgres standby); fails where `node` is.
  const std::string& existing_service(const Node& node, std::string_view subject);
  std::string existing_component(const Node& node, std::string_view subject);
  void read_version(const Node& root);
  void read_name(const Node& root);
  void read_services(const Node& node);
  ServiceSpec read_service(const Entry& entry);
  void read_service_env(const Node& value, ServiceSpec& service);
  /// A key of the service's kind, read by the key's type into its field of `service`.
  void read_service_key(const ServiceKey& key, const Node& value, ServiceSpec& service);
  /// Fails at a `command:` naming a reference that carries a password (${db.password},
  /// ${db.conninfo}, ${db.postgres_url}): a command line is every local user's to read.
  static void refuse_secret_references(const Node& command);
  /// Checks every ${service.field} in an env or command value; ${var.NAME} are already replaced.
  void check_references(const std::string& text, Pos where);
  void read_targets(const Node& node);
  void read_workload(const Node& node);
  /// `http:`, `sql:` or `redis:` of a writer: how each write is made (reader_workload.cpp).
  WriteRequestSpec read_write_request(const Entry& entry, const WorkloadSpec& workload);
  ReadBackSpec read_read_back(const Node& node, const WorkloadSpec& workload);
  /// `text` of `node` with each ${env.NAME} replaced by this machine's environment variable, whose
  /// value becomes a secret; an unset one fails at the node.
  std::string substitute_env(const Node& node, const std::string& text, std::string_view subject);
  /// A template text at `node`: ${env.NAME} replaced (its value a secret), then checked to name
  /// only the write variables `allowed` lets it.
  std::string read_template(const Node& node, std::string_view subject, bool headers_secret, bool id_only);
  std::vector<HeaderTemplate> read_headers(const Node& node, bool id_only);
  std::vector<int> read_statuses(const Node& node, std::string_view subject);
  std::string read_json_pointer(const Node& node, std::string_view subject);
  /// The service named at `node` (or `fallback`), whose kind must speak `protocol` (postgres, redis).
  std::string service_of_kind(const Node* node, const std::string& fallback, const std::string& protocol,
                              std::string_view subject, Pos where);
  void read_probes(const Node& node);
  void read_probe_type(const Entry& type, ProbeSpec& probe);
  void add_default_probes();
  ParamValue read_param(const ParamSpec& spec, const Node& node);
  /// The number `text` writes; fails at the node, naming `subject`, for anything else.
  static double check_number(const Node& node, const std::string& subject, const std::string& text);
  static const ParamSpec* param_spec(const VerbSpec& verb, std::string_view name);
  static void check_required(const VerbSpec& verb, const Params& params, std::string_view what, Pos where);
  void read_steps(const Node& node);
  /// `until: { healthy: SERVICE }` or `until: { sql: QUERY, service: POSTGRES }`.
  UntilSpec read_until(const Node& node);
  StepSpec read_step(const Node& spec);
  void read_checks(const Node& node);
  const LoadOptions& options_;
  Scenario& scenario_;
  std::map<std::string, std::string> kinds_;  // service name (derived ones included) -> kind
  /// The declared services each followed by what it derives: the scenario's services once every
  /// section has been read (the default probes are those of the declared services).
  std::vector<ServiceSpec> expanded_services_;
  std::vector<std::string> generated_secrets_;
  std::vector<std::pair<std::string, Pos>> references_;
  std::optional<StepSpec> incident_step_;
  Pos name_where_;
};

}  // namespace firedrill::scenario_yaml
