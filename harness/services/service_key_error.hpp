#pragma once
// The error a kind's rules raise about a service's keys (kinds.hpp), in a header of its own so
// that a kind's file can raise it without including the list of kinds, which includes it.
#include <stdexcept>
#include <string>

namespace firedrill {

/// A rule between keys broken: the loader reports `message` at `key` of the service (empty: at
/// the service's name).
struct ServiceKeyError : std::invalid_argument {
  ServiceKeyError(std::string key_name, const std::string& message)
      : std::invalid_argument(message), key(std::move(key_name)) {}
  std::string key;
};

}  // namespace firedrill
