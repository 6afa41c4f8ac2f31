#pragma once
// Which runtime a command runs on: `--runtime auto|docker|process`.
#include <filesystem>
#include <memory>
#include <string>

#include "harness/runtime/runtime.hpp"

namespace firedrill {

/// The runtime names `--runtime` accepts.
inline constexpr const char* runtime_choices = "auto | docker | process";

/// The runtime to use for `requested`: "docker" or "process" as they are; "auto" is docker when a
/// container engine answers (DOCKER_HOST honoured), else process. Throws std::invalid_argument
/// naming the choices for anything else.
std::string choose_runtime(const std::string& requested);

/// The runtime called `name` ("docker" or "process"); a process runtime keeps its services in
/// the run directories under out_dir. Throws std::invalid_argument for any other name.
std::unique_ptr<Runtime> make_runtime(const std::string& name, const std::filesystem::path& out_dir);

}  // namespace firedrill
