#pragma once
// A service's place on this machine: everything of it lives in <run dir>/services/<service>/ —
// data/ (what the image keeps in its data volume, a size-limited tmpfs when the spec asks for
// one), tmp/ (what its commands see as /tmp: a container's own, never this machine's), bin/ (the
// stand-ins its commands find first on their PATH), etc/pgbackrest/, log (stdout and stderr,
// appended across restarts) and pid (process_group.hpp). The runtime makes it the same way for
// every program; a recipe (program_recipe.hpp) writes its stand-ins and private files into it.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/confined_file.hpp"
#include "harness/runtime/process/command_line.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

struct ServicePlace {
  std::string service;
  std::filesystem::path directory;  // absolute: <run dir>/services/<service>
  std::string data_path;            // the image's data directory (container path); empty: none
  std::vector<HostDirectoryMount> host_directories;
  int port = 0;  // 127.0.0.1 port of the spec's first container port, where the program listens; 0: none
  /// As root, the uid and gid of the service's user; nullopt: the harness's own.
  std::optional<std::pair<uid_t, gid_t>> run_as;

  std::filesystem::path data() const { return directory / "data"; }
  std::filesystem::path scratch() const { return directory / "tmp"; }
  std::filesystem::path stand_ins() const { return directory / "bin"; }
  std::filesystem::path log_file() const { return directory / "log"; }
  std::filesystem::path pid_file() const { return directory / "pid"; }

  /// Container path -> host path of everything the service keeps: /tmp, /etc/pgbackrest, the
  /// image's data directory and the host directories the spec mounts; then the places of this
  /// machine themselves, which stay as they are though they may begin like a container's path.
  PathRoots roots() const;
  /// `text` (an argument, a script) with the container paths rewritten to their places here.
  std::string on_host(const std::string& text) const { return with_host_paths(text, roots()); }
  /// The deepest root `container_path` (absolute, normal) lies under and the rest of it below
  /// that root, which the service names and so must stay below it; nullopt outside every root.
  std::optional<ConfinedPath> host_path(const std::filesystem::path& container_path) const;

  /// Creates data/, tmp/ and bin/, with the identity stand-ins in bin/ when the harness is not
  /// root. Throws EnvironmentError.
  void create() const;
  /// Mounts a tmpfs of `bytes` on data/ (root only); the caller journals it first. Throws
  /// EnvironmentError.
  void mount_size_limited(std::uint64_t bytes) const;
  /// The service's files are no other user's: the directory 0700 and, as root, the directory,
  /// data/ and tmp/ given to the service's user. Throws EnvironmentError.
  void make_private() const;

  /// Writes an executable script to bin/<name>, where the service's commands find it first.
  void write_stand_in(const std::string& name, const std::string& text) const;
  /// Writes `text` to `path` private from its first byte (0600, created exclusively, never
  /// through a name someone else prepared), given to the service's user. `what` names it in the
  /// EnvironmentError thrown on failure.
  void write_private_file(const std::filesystem::path& path, const std::string& text, const std::string& what) const;
  /// The directory for the program's Unix sockets: the service directory when its path is short
  /// enough, else a new one in the system's temporary directory (a socket's path holds at most 107
  /// bytes), given to the service's user and recorded here, so that remove_socket_directory finds
  /// it. Call once. Throws EnvironmentError.
  std::filesystem::path make_socket_directory() const;
};

/// Removes the socket directory make_socket_directory() made outside the service directory
/// `directory`, if any, and its record.
void remove_socket_directory(const std::filesystem::path& directory);

/// Unmounts the size-limited tmpfs on <directory>/data, once the service's processes are stopped.
void release_data_mount(const std::filesystem::path& directory, std::vector<std::string>& errors);

/// Copies the regular file at `source` to `target` (written beside it, then renamed, so a failed
/// copy leaves no partial file). `what` names the copy in the EnvironmentError thrown on failure.
void copy_out(const ConfinedPath& source, const std::filesystem::path& target, const std::string& what);

/// Copies `source` into the service's file `target` (replaced, mode 0644, given to `owner` when
/// there is one). `what` names the copy in the EnvironmentError thrown on failure.
void copy_in(const std::filesystem::path& source, const ConfinedPath& target,
             const std::optional<std::pair<uid_t, gid_t>>& owner, const std::string& what);

}  // namespace firedrill
