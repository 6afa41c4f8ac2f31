#include "harness/runtime/runtime_choice.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "harness/runtime/docker/docker_leftovers.hpp"
#include "harness/runtime/docker/docker_runtime.hpp"
#include "harness/runtime/process/process_leftovers.hpp"
#include "harness/runtime/process/process_runtime.hpp"

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

const std::map<std::string, RuntimeEntry>& runtime_registry() {
  static const std::map<std::string, RuntimeEntry> registry = [] {
    std::map<std::string, RuntimeEntry> entries;
    const auto add = [&entries](RuntimeEntry entry) {
      std::string name = entry.name;
      register_unique(entries, name, std::move(entry), "runtime");
    };
    add({"docker",
         {Capability::process_control, Capability::network_namespaces, Capability::file_access, Capability::storage},
         [](const std::filesystem::path&) { return std::make_unique<DockerRuntime>(); },
         docker::made_by_docker, docker::release_docker_run, docker::orphaned_labelled_runs,
         [](const std::string& run_id) { return cleanup_docker(run_id, false); }});
    add({"process",
         {Capability::process_control, Capability::file_access, Capability::storage},
         [](const std::filesystem::path& out_dir) { return std::make_unique<ProcessRuntime>(out_dir); },
         made_by_processes, release_process_run, nullptr, nullptr});
    return entries;
  }();
  return registry;
}

const RuntimeEntry& runtime_entry(const std::string& name) {
  const auto& registry = runtime_registry();
  if (auto found = registry.find(name); found != registry.end()) return found->second;
  std::string names;
  for (const auto& [known, entry] : registry) names += (names.empty() ? "" : " or ") + known;
  throw std::invalid_argument(fmt::format("runtime '{}' is not available in this version (choose {})", name, names));
}

const RuntimeEntry* runtime_of(const JournalState& run) {
  for (const auto& [name, entry] : runtime_registry())
    if (entry.made(run)) return &entry;
  return nullptr;
}

std::set<Capability> capabilities_of(Runtime& runtime) {
  std::set<Capability> found;
  if (runtime.capability<ProcessControl>()) found.insert(Capability::process_control);
  if (runtime.capability<NetworkNamespaces>()) found.insert(Capability::network_namespaces);
  if (runtime.capability<FileAccess>()) found.insert(Capability::file_access);
  if (runtime.capability<Storage>()) found.insert(Capability::storage);
  return found;
}

std::string choose_runtime(const std::string& requested) {
  if (requested == "auto") return container_engine_answers() ? "docker" : "process";
  if (runtime_registry().count(requested)) return requested;
  throw std::invalid_argument(fmt::format("runtime '{}' is not available in this version (choose {})", requested, runtime_choices));
}

std::unique_ptr<Runtime> make_runtime(const std::string& name, const std::filesystem::path& out_dir) {
  return runtime_entry(name).make(out_dir);
}

}  // namespace firedrill
