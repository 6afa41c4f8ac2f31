#pragma once
// A kind of service: the keys a scenario may set on a service of the kind, with their types,
// bounds, choices and defaults; the rules between them; the services the kind derives from a
// declared one; the class that runs it. Each kind's class says its ServiceKind (`static
// ServiceKind kind()`, in the class's own file) and kinds.cpp registers it with one line: the
// loader validates a service against its kind's keys and the engine builds it with its kind's
// class, so adding a kind touches neither.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "core/duration.hpp"
#include "core/model.hpp"
#include "harness/services/derived.hpp"
#include "harness/services/service_key_error.hpp"

namespace firedrill {

class Service;

/// The field of ServiceSpec a key sets; its type is the key's: a whole number (int), true or
/// false (bool), a word (std::string), a byte size like 64MiB (std::optional<std::uint64_t>) or a
/// duration like 90s (std::optional<Duration>, its bounds in microseconds).
using ServiceField = std::variant<int ServiceSpec::*, bool ServiceSpec::*, std::string ServiceSpec::*,
                                  std::optional<std::uint64_t> ServiceSpec::*, std::optional<Duration> ServiceSpec::*>;

/// A key a service of one kind may set, beyond those every service has (kind, image, env,
/// command, port, volumes).
struct ServiceKey {
  std::string name;
  ServiceField field;
  std::string help;
  long long low = 0, high = 0;            // a whole number's bounds, or a byte size's (in bytes)
  std::vector<std::string> choices = {};  // a word's values; empty: any word `check` accepts
  std::string default_value = {};         // a word the service gets when it leaves the key out
  /// Refuses a value its type allows but the kind does not (throws std::invalid_argument with the
  /// message); empty: every value of the type.
  std::function<void(const std::string& text)> check = {};
};

struct ServiceKind {
  std::string name;
  std::string help;
  /// Whether a scenario may declare a service of the kind; false for those only derived (sentinel).
  bool declarable = true;
  std::vector<ServiceKey> keys;
  /// The image a service runs when it names none (empty: it must name one).
  std::string default_image;
  /// The defaults that depend on other keys and the rules between keys, once every key is read:
  /// fills the first, throws ServiceKeyError for the second.
  std::function<void(ServiceSpec&)> complete = {};
  /// The declared service as it runs, followed by what it derives; empty: itself, unchanged.
  std::function<std::vector<ExpandedService>(const ServiceSpec&, GeneratedSecrets&)> expand = {};
  /// What `${name.FIELD}` may name beyond url, host and port (Service::reference gives them).
  std::vector<std::string> reference_fields = {};
  /// For a kind standing in front of another service (a pooler, a load balancer), once every
  /// service is expanded: checks what its keys name among `services` and takes into its own spec
  /// what it needs of it (credentials, members); a password it needs that its backend has not got
  /// yet is generated into the backend's env, so both share it. Throws ServiceKeyError. Empty:
  /// the kind depends on no other service.
  std::function<void(ServiceSpec& self, std::vector<ServiceSpec>& services, GeneratedSecrets&)> attach = {};
  /// The protocol the harness speaks to a service of the kind: "postgres" (SQL probes and
  /// queries), "redis", "http"; empty: none beyond a TCP connection.
  std::string speaks;
  /// The runtimes that can run the kind (empty: every one); a scenario declaring it is refused at
  /// load, at its `kind`, on any other.
  std::vector<std::string> runtimes = {};
  /// Why the other runtimes cannot, for that refusal.
  std::string runtime_note = {};
  /// The class that runs a service of the kind.
  std::function<std::unique_ptr<Service>(const ServiceSpec&)> make;
};

/// Keys more than one kind has.
namespace service_keys {

/// `disk`: the size of the data directory's own filesystem.
ServiceKey disk();
/// `health`: the HTTP path that answers once ready (`default_path` when the service names none).
ServiceKey health(std::string default_path);
/// `health_status`: the status the health path answers once ready.
ServiceKey health_status();
/// `ready_command`: a shell command run in the service, ready once it exits 0.
ServiceKey ready_command();
/// `start_timeout`: how long the service may take to become ready.
ServiceKey start_timeout();
/// A duration key (a word like 500ms) between `low` and `high`.
ServiceKey duration(std::string name, std::string ServiceSpec::*field, std::string help, std::string default_value,
                    Duration low, Duration high);

}  // namespace service_keys
}  // namespace firedrill
