#include "harness/runtime/runtime_choice.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "harness/runtime/docker_runtime.hpp"
#include "harness/runtime/process_runtime.hpp"

namespace firedrill {
namespace {

bool container_engine_answers() {
  try {
    return docker::EngineApi::from_environment().ping();
  } catch (const std::exception&) {
    // Unreachable, or a DOCKER_HOST this build refuses: no engine to use.
    return false;
  }
}

}  // namespace

std::string choose_runtime(const std::string& requested) {
  if (requested == "docker" || requested == "process") return requested;
  if (requested == "auto") return container_engine_answers() ? "docker" : "process";
  throw std::invalid_argument(fmt::format("runtime '{}' is not available in this version (choose {})", requested, runtime_choices));
}

std::unique_ptr<Runtime> make_runtime(const std::string& name, const std::filesystem::path& out_dir) {
  if (name == "docker") return std::make_unique<DockerRuntime>();
  if (name == "process") return std::make_unique<ProcessRuntime>(out_dir);
  throw std::invalid_argument(fmt::format("runtime '{}' is not available in this version (choose docker or process)", name));
}

}  // namespace firedrill
