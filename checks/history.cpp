#include "checks/history.hpp"

namespace firedrill {

const char* to_string(WriteOutcome outcome) {
  switch (outcome) {
    case WriteOutcome::ok: return "ok";
    case WriteOutcome::error: return "error";
    case WriteOutcome::timeout: return "timeout";
  }
  return "error";
}

}  // namespace firedrill
