#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/docker/freezer.hpp"
#include "harness/runtime/docker/host_firewall.hpp"

#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

namespace firedrill {
namespace {

using nlohmann::json;

enum class Kind { container, volume, network };

struct LabelledResource {
  Kind kind;
  std::string id;    // what the engine's DELETE takes
  std::string name;  // what a person recognises
  json labels;
};

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::container: return "container";
    case Kind::volume: return "volume";
    case Kind::network: return "network";
  }
  return "resource";
}

json labels_of(const json& object) {
  if (object.contains("Labels") && object["Labels"].is_object()) return object["Labels"];
  return json::object();
}

std::vector<LabelledResource> list_labelled(const docker::EngineApi& api, const std::string& label) {
  const std::string filter = docker::label_filter(label);
  std::vector<LabelledResource> found;

  const json containers = api.get("/containers/json?all=1&filters=" + filter);
  for (const auto& container : containers.is_array() ? containers : json::array()) {
    std::string name = container.value("Id", std::string());
    if (container.contains("Names") && container["Names"].is_array() && !container["Names"].empty()) {
      name = container["Names"][0].get<std::string>();
      if (name.starts_with('/')) name.erase(0, 1);
    }
    found.push_back({Kind::container, container.value("Id", std::string()), name, labels_of(container)});
  }

  const json volumes = api.get("/volumes?filters=" + filter);
  if (volumes.is_object() && volumes.contains("Volumes") && volumes["Volumes"].is_array()) {
    for (const auto& volume : volumes["Volumes"]) {
      const std::string name = volume.value("Name", std::string());
      found.push_back({Kind::volume, name, name, labels_of(volume)});
    }
  }

  const json networks = api.get("/networks?filters=" + filter);
  for (const auto& network : networks.is_array() ? networks : json::array()) {
    found.push_back({Kind::network, network.value("Id", std::string()), network.value("Name", std::string()),
                     labels_of(network)});
  }
  return found;
}

/// True when `path` is `root` or below it, compared lexically.
bool is_below(const std::filesystem::path& path, const std::filesystem::path& root) {
  const auto relative = path.lexically_normal().lexically_relative(root.lexically_normal());
  return !relative.empty() && relative.begin()->string() != "..";
}

std::string run_of(const LabelledResource& resource) {
  const auto it = resource.labels.find(labels::run);
  return it != resource.labels.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// A container frozen through its cgroup (DockerRuntime::pause) cannot die from the engine's
/// SIGKILL on cgroup v1 until it is thawed, so removal thaws it first.
void thaw_if_frozen(const docker::EngineApi& api, const std::string& container_id) {
  try {
    const json container = api.get(fmt::format("/containers/{}/json", container_id));
    if (auto control = freezer_control_of(container.value("State", json::object()).value("Pid", 0),
                                          container.value("Id", std::string())))
      thaw_cgroup(*control);
  } catch (const std::exception&) {
    // Gone already, or the engine will report the real problem when removing it.
  }
}

/// Deletes one resource; false with the engine's message when it stayed busy past the deadline
/// or was refused outright. A resource that is already gone counts as removed.
bool remove_one(const docker::EngineApi& api, const LabelledResource& resource, std::string& error) {
  std::string path;
  switch (resource.kind) {
    case Kind::container: path = fmt::format("/containers/{}?force=1&v=1", resource.id); break;
    case Kind::volume: path = fmt::format("/volumes/{}?force=1", docker::url_encode(resource.id)); break;
    case Kind::network: path = fmt::format("/networks/{}", resource.id); break;
  }
  if (resource.kind == Kind::container) thaw_if_frozen(api, resource.id);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    try {
      api.del(path);
      return true;
    } catch (const docker::EngineError& engine_error) {
      if (engine_error.status() == 404) return true;
      // 409/403/500: removal already in progress, a container mid-restart, endpoints still
      // being released. These settle within moments.
      if (engine_error.status() == 400 || std::chrono::steady_clock::now() >= deadline) {
        error = fmt::format("{} {}: {}", kind_name(resource.kind), resource.name, engine_error.what());
        return false;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

namespace docker {

CleanupReport remove_labelled(const EngineApi& api, const std::string& label) {
  CleanupReport report;
  const auto resources = list_labelled(api, label);
  std::set<std::string> runs;
  for (const auto& resource : resources) {
    if (auto run = run_of(resource); !run.empty()) runs.insert(run);
  }
  report.runs.assign(runs.begin(), runs.end());

  for (Kind kind : {Kind::container, Kind::volume, Kind::network}) {
    for (const auto& resource : resources) {
      if (resource.kind != kind) continue;
      std::string error;
      if (!remove_one(api, resource, error)) {
        report.errors.push_back(std::move(error));
        continue;
      }
      switch (kind) {
        case Kind::container: ++report.removed.containers; break;
        case Kind::volume: ++report.removed.volumes; break;
        case Kind::network: ++report.removed.networks; break;
      }
    }
  }
  return report;
}

ResourceCounts count_labelled(const EngineApi& api, const std::string& label) {
  ResourceCounts counts;
  for (const auto& resource : list_labelled(api, label)) {
    switch (resource.kind) {
      case Kind::container: ++counts.containers; break;
      case Kind::volume: ++counts.volumes; break;
      case Kind::network: ++counts.networks; break;
    }
  }
  return counts;
}

}  // namespace docker

void CleanupReport::merge(const CleanupReport& part) {
  runs.insert(runs.end(), part.runs.begin(), part.runs.end());
  removed.containers += part.removed.containers;
  removed.volumes += part.removed.volumes;
  removed.networks += part.removed.networks;
  removed.mounts += part.removed.mounts;
  errors.insert(errors.end(), part.errors.begin(), part.errors.end());
  notes.insert(notes.end(), part.notes.begin(), part.notes.end());
}

void release_journalled_files(const JournalState& run, CleanupReport& report) {
  // Every mount the journal names, wherever it is: a runtime's own release looks only where it
  // keeps them.
  for (const auto& [kind, name] : run.created)
    if (kind == "mount" && release_journalled_mount(run, name, report.errors)) ++report.removed.mounts;
  for (const auto& [kind, name] : run.created) {
    if (kind != staging_kind) continue;
    if (!is_staging_directory(name)) {
      report.errors.push_back(fmt::format("staging {}: not a staging directory of this machine, left alone", name));
      continue;
    }
    std::error_code error;
    if (std::filesystem::remove_all(name, error) > 0)
      report.notes.push_back(fmt::format("{}: removed the staging directory {}", run.run_id, name));
    if (error) report.errors.push_back(fmt::format("staging {}: cannot remove: {}", name, error.message()));
  }
}

CleanupReport cleanup_docker(const std::string& run_id, bool all) {
  const auto api = docker::EngineApi::from_environment();
  CleanupReport report =
      docker::remove_labelled(api, all ? std::string(labels::run) : fmt::format("{}={}", labels::run, run_id));
  report.removed.mounts += release_size_limited_mounts(run_id, all, report.errors);
  // The run's egress rule carries no engine label: found by its comment.
  if (!all && can_change_host_firewall()) {
    try {
      delete_egress_rules_of(run_id);
    } catch (const EnvironmentError& error) {
      report.errors.push_back(error.what());
    }
  }
  return report;
}

std::filesystem::path size_limited_mount_root() { return "/var/lib/firedrill/mounts"; }

bool is_staging_directory(const std::filesystem::path& directory) {
  const std::string name = directory.filename().string();
  return directory.parent_path() == std::filesystem::temp_directory_path() && name.size() == 17 &&
         name.starts_with("fd-staging-") &&
         std::all_of(name.begin() + 11, name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

std::filesystem::path size_limited_mount_directory(const std::string& run_id, const std::string& service) {
  return size_limited_mount_root() / run_id / service;
}

bool is_mount_point(const std::filesystem::path& directory) {
  struct stat self {}, parent {};
  if (::stat(directory.c_str(), &self) != 0 || !S_ISDIR(self.st_mode)) return false;
  if (::stat((directory / "..").c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
}

bool unmount_stacked(const std::filesystem::path& directory, std::vector<std::string>& errors) {
  // Stacked mounts (a mount repeated by a crashed retry) come off one at a time.
  for (int layer = 0; layer < 8 && is_mount_point(directory); ++layer) {
    if (::umount2(directory.c_str(), MNT_DETACH) != 0) {
      errors.push_back(fmt::format("mount {}: cannot unmount: {}", directory.string(), std::strerror(errno)));
      return false;
    }
  }
  if (is_mount_point(directory)) {
    errors.push_back(fmt::format("mount {}: still mounted", directory.string()));
    return false;
  }
  return true;
}

bool release_journalled_mount(const JournalState& run, const std::filesystem::path& directory,
                              std::vector<std::string>& errors) {
  if (is_below(directory, size_limited_mount_root())) return release_size_limited_mount(directory, errors);
  const auto services = std::filesystem::absolute(run.run_dir / "services");
  const auto normal = std::filesystem::absolute(directory).lexically_normal();
  if (run.run_dir.empty() || !is_below(normal, services) || normal == services.lexically_normal()) {
    errors.push_back(fmt::format("mount {}: neither under {} nor in run {}'s directory, left alone", directory.string(),
                                 size_limited_mount_root().string(), run.run_id));
    return false;
  }
  const bool mounted = is_mount_point(normal);
  unmount_stacked(normal, errors);
  return mounted;
}

bool release_size_limited_mount(const std::filesystem::path& directory, std::vector<std::string>& errors) {
  const auto normal = directory.lexically_normal();
  const auto relative = normal.lexically_relative(size_limited_mount_root());
  if (relative.empty() || relative.begin()->string() == ".." || relative.begin()->string() == ".") {
    errors.push_back(fmt::format("mount {}: not under {}, left alone", directory.string(), size_limited_mount_root().string()));
    return false;
  }
  std::error_code error;
  if (!std::filesystem::exists(normal, error)) return false;
  if (!unmount_stacked(normal, errors)) return true;
  std::filesystem::remove_all(normal, error);
  if (error) errors.push_back(fmt::format("mount {}: cannot remove: {}", normal.string(), error.message()));
  // The run's folder goes once its last service's is gone.
  std::filesystem::remove(normal.parent_path(), error);
  return true;
}

int release_size_limited_mounts(const std::string& run_id, bool all, std::vector<std::string>& errors) {
  std::vector<std::filesystem::path> runs;
  std::error_code error;
  if (all) {
    for (const auto& entry : std::filesystem::directory_iterator(size_limited_mount_root(), error))
      if (entry.is_directory()) runs.push_back(entry.path());
  } else if (!run_id.empty()) {
    runs.push_back(size_limited_mount_root() / run_id);
  }
  int released = 0;
  for (const auto& run : runs) {
    std::vector<std::filesystem::path> services;
    for (const auto& entry : std::filesystem::directory_iterator(run, error))
      if (entry.is_directory()) services.push_back(entry.path());
    for (const auto& service : services)
      if (release_size_limited_mount(service, errors)) ++released;
    std::filesystem::remove(run, error);
  }
  return released;
}

ResourceCounts count_labelled(const std::string& run_id) {
  const auto api = docker::EngineApi::from_environment();
  return docker::count_labelled(api, run_id.empty() ? std::string(labels::run)
                                                    : fmt::format("{}={}", labels::run, run_id));
}

namespace docker {

std::map<std::string, bool> labelled_runs_by_owner_death(const EngineApi& api) {
  const std::vector<LabelledResource> resources = list_labelled(api, labels::run);
  // A run is orphaned only when every resource names an owner, all on this host, none alive.
  std::map<std::string, bool> orphaned;
  for (const auto& resource : resources) {
    const std::string run = run_of(resource);
    if (run.empty()) continue;
    const auto label = resource.labels.find(labels::owner);
    std::optional<Owner> owner;
    if (label != resource.labels.end() && label->is_string()) owner = Owner::from_label(label->get<std::string>());
    const bool dead = owner && owner->host == Owner::self().host && !owner->alive();
    auto [entry, inserted] = orphaned.try_emplace(run, dead);
    if (!inserted) entry->second = entry->second && dead;
  }

  return orphaned;
}

}  // namespace docker

}  // namespace firedrill
