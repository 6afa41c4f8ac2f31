#pragma once
// What a scenario may say: the faults, actions and checks the registries hold, with their
// parameters. The loader validates against it; `firedrill faults|actions|checks` prints it.
#include <map>
#include <string>
#include <vector>

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
};

struct Vocabulary {
  std::map<std::string, VerbSpec> faults;
  std::map<std::string, VerbSpec> actions;
  std::map<std::string, VerbSpec> checks;  // key is the check's word (rto, rpo, ...)
};

}  // namespace firedrill
