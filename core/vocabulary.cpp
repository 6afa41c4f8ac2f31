#include "core/vocabulary.hpp"

namespace firedrill {

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::string: return "string";
    case ParamType::integer: return "integer";
    case ParamType::number: return "number";
    case ParamType::boolean: return "boolean";
    case ParamType::duration: return "duration";
    case ParamType::percent: return "percent";
    case ParamType::service: return "service";
    case ParamType::string_list: return "string list";
    case ParamType::service_list: return "service list";
  }
  return "unknown";
}

}  // namespace firedrill
