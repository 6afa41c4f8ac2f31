#include <unistd.h>

#include <climits>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "harness/runtime/process/process_group.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {
namespace {

std::string this_host() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof name) != 0) return "unknown";
  name[HOST_NAME_MAX] = '\0';
  return name;
}

}  // namespace

std::string Owner::to_label() const { return fmt::format("{}:{}:{}", host, pid, start_time); }

std::optional<Owner> Owner::from_label(const std::string& label) {
  const auto last = label.rfind(':');
  if (last == std::string::npos || last == 0) return std::nullopt;
  const auto middle = label.rfind(':', last - 1);
  if (middle == std::string::npos || middle == 0) return std::nullopt;
  Owner owner;
  owner.host = label.substr(0, middle);
  try {
    size_t used = 0;
    const std::string pid_text = label.substr(middle + 1, last - middle - 1);
    const std::string start_text = label.substr(last + 1);
    owner.pid = std::stoi(pid_text, &used);
    if (used != pid_text.size() || owner.pid <= 0) return std::nullopt;
    owner.start_time = std::stoull(start_text, &used);
    if (used != start_text.size() || start_text.starts_with('-')) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return owner;
}

Owner Owner::self() {
  Owner owner;
  owner.host = this_host();
  owner.pid = static_cast<int>(getpid());
  owner.start_time = process_start_time(owner.pid).value_or(0);
  return owner;
}

bool Owner::alive() const {
  if (host != this_host() || pid <= 0) return false;
  const auto start = process_start_time(pid);
  return start && *start == start_time;
}

}  // namespace firedrill
