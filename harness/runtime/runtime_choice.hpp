#pragma once
// Which runtime a command runs on: `--runtime auto|docker|process`.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/vocabulary.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

/// The runtime names `--runtime` accepts.
inline constexpr const char* runtime_choices = "auto | docker | process";

/// The runtime to use for `requested`: "docker" or "process" as they are; "auto" is docker when a
/// container engine answers (DOCKER_HOST honoured), else process. Throws std::invalid_argument
/// naming the choices for anything else.
std::string choose_runtime(const std::string& requested);

/// A runtime firedrill can run on: its name, what it can do beyond the core, and how to make one.
struct RuntimeEntry {
  std::string name;
  std::set<Capability> capabilities;
  /// A runtime of this kind; out_dir holds the run directories (a process runtime keeps its
  /// services' files there).
  std::function<std::unique_ptr<Runtime>(const std::filesystem::path& out_dir)> make;
};

/// Every runtime, by name: the one place a new runtime is registered.
const std::map<std::string, RuntimeEntry>& runtime_registry();

/// The runtime called `name`. Throws std::invalid_argument naming the choices for any other.
const RuntimeEntry& runtime_entry(const std::string& name);

/// What `runtime` can do beyond the core, as its capability interfaces say.
std::set<Capability> capabilities_of(Runtime& runtime);

/// The runtime called `name`; a process runtime keeps its services in the run directories under
/// out_dir. Throws std::invalid_argument for any other name.
std::unique_ptr<Runtime> make_runtime(const std::string& name, const std::filesystem::path& out_dir);

}  // namespace firedrill
