#pragma once
// The in-memory form of a scenario file (format v1, DESIGN.md). Built only by the loader, which
// has already checked every field, so the engine can trust what it reads here.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace firedrill {

using Duration = std::chrono::microseconds;

/// Suffixes of the containers firedrill starts beside a service and names after it: the
/// scratch container of verify-backup and the network sidecar of the network faults. The loader
/// refuses service names that end in one, since the runtime removes those containers by name.
inline constexpr std::string_view verify_scratch_suffix = "-verify";
inline constexpr std::string_view network_sidecar_suffix = "-netadmin";

/// Where something was written: file, 1-based line and column.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
};

/// A parameter value as written in the scenario, kept as text with its location; its type was
/// checked against the ParamSpec of the fault/action/check that owns it.
struct ParamValue {
  std::string text;                // scalar text; empty for a list; a percent without its '%'
  std::vector<std::string> items;  // list items when the value is a sequence
  bool is_list = false;
  std::optional<Duration> duration;  // set by the loader when the param's type is duration
  std::optional<double> number;      // set by the loader when it is an integer, a number or a percent
  SourceLocation where;
};
using Params = std::map<std::string, ParamValue>;

struct Objective {
  std::optional<Duration> rto;
  std::optional<Duration> rpo;
  SourceLocation where;
};

struct ServiceSpec {
  std::string name;
  std::string kind;   // postgres | redis | app | container | pgbouncer | haproxy, or sentinel (derived only)
  std::string image;  // as written, else the kind's default (firedrill/postgres:15, ...)
  std::map<std::string, std::string> env;  // ${...} still unsubstituted
  std::vector<std::string> command;        // empty: the image's default; a string is {"/bin/sh", "-c", string}
  std::optional<int> port;                 // app/container: the port it listens on
  std::string health;                      // app: HTTP health path
  int health_status = 0;                   // app/container: the status `health` answers when ready; 0: any 2xx
  std::string ready_command;               // app/container: a shell command in the service, ready when it exits 0
  std::optional<Duration> start_timeout;   // how long it may take to be ready; none: the run's (90 s)
  int standbys = 0;                        // postgres: streaming standbys <name>-standby-1..N
  bool sync = false;                       // postgres with standbys: synchronous replication
  std::string standby_of;                  // set on the standbys/replicas the loader derives: the primary's name
  int sentinels = 0;                       // redis: Sentinel processes <name>-sentinel-1..N watching it
  int replicas = 0;                        // redis with sentinels: replicas <name>-replica-1..N (default 1)
  std::string sentinel_of;                 // set on the sentinels the loader derives: the master's name
  std::string ha;                          // postgres: "patroni" — a Patroni cluster with etcd, failing over by itself
  int members = 0;                         // postgres with ha: Patroni members <name>-1..N (default 3)
  std::string member_of;                   // set on the Patroni members and the etcd the loader derives: the cluster's name
  std::string persistence;                 // redis: none | rdb | aof (default rdb, as redis-server)
  std::vector<std::string> volumes;        // "name:/path" or "/path"
  std::optional<std::uint64_t> disk;       // postgres/redis: bytes of the data directory's own filesystem
  std::string backend;                     // pgbouncer/haproxy: the postgres service it stands in front of
  std::string pool_mode;                   // pgbouncer: session | transaction (default) | statement
  int pool_size = 0;                       // pgbouncer: server connections per user and database (default 20)
  int max_client_conn = 0;                 // pgbouncer: client connections it accepts (default 100)
  std::string login_retry;                 // pgbouncer: the pause after a failed server login (default 15s)
  std::string check_interval;              // haproxy: between two health checks of a member (default 3s)
  int fall = 0;                            // haproxy: failed checks in a row that take a member out (default 3)
  int rise = 0;                            // haproxy: passed checks in a row that put it back (default 2)
  SourceLocation where;
};

/// A header of an HTTP request a writer or a read-back sends: its value is a template.
struct HeaderTemplate {
  std::string name;
  std::string value;
};

/// How each write is made (`http:`, `sql:` or `redis:` on a writer), or what the service written
/// through implies when the scenario does not say (the fixture app's POST /orders, an INSERT into
/// firedrill_writes, a SET). Texts are templates of ${write.id}, ${write.seq}, ${write.time} and
/// ${env.NAME} (clients/workload/write_template.hpp); the loader has checked every one.
struct WriteRequestSpec {
  std::string kind;  // http | sql | redis
  // http
  std::string method = "POST";
  std::string path;  // with its query, if any
  std::vector<HeaderTemplate> headers;
  std::string body;               // empty: none
  bool body_is_json = false;      // a JSON text whose string values are templates
  std::vector<int> expect;        // statuses that acknowledge the write; empty: any 2xx
  std::string id_from;            // a JSON pointer into the answer naming the write; empty: ${write.id}
  // sql: statements with $1 bound to the write's id and $2 to its time, on `service`
  std::string service;                  // a postgres service; empty: the writer's `through`
  std::vector<std::string> setup;       // run once before the first write (CREATE TABLE IF NOT EXISTS …)
  std::vector<std::string> statements;  // one runs in autocommit; several in one transaction
  bool transaction = false;             // one statement in a transaction too
  // redis: one command, a template per word, acknowledged on any reply that is not an error
  std::vector<std::string> command;
  SourceLocation where;
};

/// How the writes are found again after recovery (`read_back:`), or what the service written
/// through implies. A read-back that cannot run leaves the lost writes unknown.
struct ReadBackSpec {
  std::string kind;     // http | sql | redis
  std::string service;  // empty: the writer's `through` (for sql, its postgres service)
  // sql: with $1, the ids asked (a text[], in batches) and the rows the ids found; without, every id
  std::string query;
  // http: `path` with ${write.id} is one GET per id, `found` its statuses (default 200) and 404 an
  // absent one; without, `path` lists ids at the JSON pointer `ids_at`, paged by the cursor at
  // `next_at` passed back as the query parameter `next_param`
  std::string path;
  std::vector<HeaderTemplate> headers;
  std::vector<int> found;
  std::string ids_at;
  std::string next_at;
  std::string next_param;
  // redis: a command per id (`EXISTS ${write.id}`); found on a reply that is not nil, 0 or empty
  std::vector<std::string> command;
  bool scan_prefix = false;  // the implied redis read-back: the writer's keys by SCAN
  int concurrency = 4;
  std::optional<Duration> timeout;  // the whole read-back; default 60 s
  SourceLocation where;
};

struct WorkloadSpec {
  std::string name;
  std::string through;  // the service written to: its address, and its component for RTO
  double rate_per_second = 0;
  int concurrency = 1;
  std::optional<Duration> timeout;  // per write; default chosen by the writer
  std::optional<WriteRequestSpec> request;   // as declared; else implied by `through`'s kind
  std::optional<ReadBackSpec> read_back;     // as declared; else implied by `through`'s kind
  SourceLocation where;
};

struct ProbeSpec {
  std::string name;
  std::string type;     // http | sql | redis | tcp
  std::string service;  // the service probed; its component for RTO is this service
  std::string path;     // http
  int expect_status = 0;  // http: the status that means up; 0: any 2xx
  std::string query;    // sql (default SELECT 1)
  Duration interval = std::chrono::milliseconds(20);
  std::optional<Duration> timeout;
  SourceLocation where;
};

enum class StepVerb { wait, fault, action, await, manual };

/// How `firedrill rehearse` tells by itself that a manual step is done: `healthy` (every probe of
/// that service succeeds) or `sql` (the query's first value is true or a non-zero number on
/// `service`).
struct UntilSpec {
  std::string healthy;
  std::string sql;
  std::string service;
  SourceLocation where;
};

struct StepSpec {
  std::string name;
  StepVerb verb = StepVerb::wait;
  std::string what;  // fault or action name; await condition ("recovered"); manual text
  std::string target;          // a service name, when the verb takes one
  bool incident = false;       // this step's fault marks T0
  std::optional<Duration> duration;  // wait: how long; fault: revert after
  std::optional<Duration> timeout;   // await/action bound
  std::optional<Duration> stable;    // await recovered
  Params params;               // the fault's/action's own parameters
  std::string manual;                // action: what a person does instead in `firedrill rehearse`
  std::optional<Duration> budget;    // manual, or action with `manual`: the phase budget of a rehearsal
  std::optional<UntilSpec> until;    // manual, or action with `manual`: done by itself once true
  SourceLocation where;

  /// The text of a parameter as written, or `fallback` when the step does not set it.
  std::string param_text(const std::string& param, const std::string& fallback = "") const {
    auto found = params.find(param);
    return found == params.end() ? fallback : found->second.text;
  }
  /// The value of an integer, number or percent parameter as the loader read it (a percent
  /// without its '%'), or nullopt when the step does not set it.
  std::optional<double> param_number(const std::string& param) const {
    auto found = params.find(param);
    return found == params.end() ? std::nullopt : found->second.number;
  }
};

struct CheckSpec {
  std::string kind;     // rto | rpo | lost_acked_writes | integrity | ...
  std::string subject;  // the component/service the check is about
  Params params;        // e.g. max, sql, expect
  SourceLocation where;
};

struct Scenario {
  int version = 1;
  std::string name;
  std::string description;
  std::string runbook;
  /// Labels a roll-up's controls select runs by (`tags:` of a control); signed in the predicate.
  std::vector<std::string> tags;
  /// The verdict this drill is meant to reach: "pass", or "fail" for a drill proving that a
  /// fault is caught (it exits 0 when it fails and 1 when it passes).
  std::string expect = "pass";
  std::string file;    // path as given
  std::string sha256;  // of the file's bytes
  std::map<std::string, Objective> targets;  // "overall" or a service name
  std::vector<ServiceSpec> services;         // in file order, each followed by what it derives (its standbys, ...)
  std::vector<WorkloadSpec> workload;
  std::vector<ProbeSpec> probes;             // after defaults were added
  std::vector<StepSpec> steps;
  std::vector<CheckSpec> checks;
  std::map<std::string, std::string> vars;   // --var KEY=VALUE
  /// The passwords the loader generated for derived services (a primary's and its standbys', a
  /// Sentinel group's, a Patroni cluster's): each run replaces every one of them with a fresh
  /// one (with_fresh_secrets), so runs of one loaded scenario share none.
  std::vector<std::string> generated_secrets;
  /// Values the loader took from this machine's environment (${env.NAME} in a service's env or a
  /// writer's templates) or from a --var into a writer's header (an API key): masked wherever the
  /// run writes text.
  std::vector<std::string> loaded_secrets;

  const ServiceSpec* service(const std::string& service_name) const {
    for (const auto& s : services)
      if (s.name == service_name) return &s;
    return nullptr;
  }
};

/// The name of the n-th (from 1) service firedrill derives from a declared one, by role:
/// `db-standby-1`, `cache-replica-2`, `cache-sentinel-1`. The service kinds derive them when
/// the scenario is loaded (harness/services/registry.hpp), and the loader refuses a declared
/// service of such a name: one rule for both.
inline std::string derived_service_name(std::string_view declared, std::string_view role, int n) {
  return std::string(declared) + "-" + std::string(role) + "-" + std::to_string(n);
}

}  // namespace firedrill
