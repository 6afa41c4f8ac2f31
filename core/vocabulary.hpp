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

struct VerbSpec {
  std::string name;
  std::string help;
  bool needs_target = true;  // the step must name a service in `target:`
  std::vector<ParamSpec> params;
  /// How the parameters must combine, beyond each one's type (e.g. exactly one of two); throws
  /// std::invalid_argument with the reason. Run by the loader, so `validate` catches it.
  std::function<void(const StepSpec&)> check_combination = {};
};

struct Vocabulary {
  std::map<std::string, VerbSpec> faults;
  std::map<std::string, VerbSpec> actions;
  std::map<std::string, VerbSpec> checks;  // key is the check's word (rto, rpo, ...)
};

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
