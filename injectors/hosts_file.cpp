#include "injectors/hosts_file.hpp"

namespace firedrill::hosts_file {
namespace {

// $1 is a service name ([a-z0-9-]+, checked by the loader): safe inside the pattern.
constexpr const char* naming = R"SH("[[:space:]]$1([[:space:]]|\$)")SH";

}  // namespace

std::vector<std::string> replacing(const std::string& name, const std::string& lines) {
  return {"sh", "-c",
          std::string("kept=$(grep -Ev ") + naming +
              R"SH( /etc/hosts || true); { printf '%s\n' "$kept"; [ -z "$2" ] || printf '%s\n' "$2"; } >/etc/hosts)SH",
          "hosts", name, lines};
}

std::vector<std::string> lines_naming(const std::string& name) {
  return {"sh", "-c", std::string("grep -E ") + naming + " /etc/hosts || true", "hosts", name};
}

}  // namespace firedrill::hosts_file
