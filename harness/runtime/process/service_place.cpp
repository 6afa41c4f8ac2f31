#include "harness/runtime/process/service_place.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "harness/runtime/cleanup.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

// Without root every service runs as the harness's user, so the identity changes the images'
// scripts make as root are already true and stand-ins let them pass.
constexpr std::pair<const char*, const char*> identity_stand_ins[] = {
    {"chown", "#!/bin/sh\nexit 0\n"},
    {"setpriv",
     "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in\n    --reuid|--regid|--ruid|--rgid|--euid|--egid|--groups) shift 2 ;;\n"
     "    --*) shift ;;\n    *) break ;;\n  esac\ndone\nexec \"$@\"\n"},
    {"runuser", "#!/bin/sh\n[ \"$1\" = -u ] && shift 2\n[ \"$1\" = -- ] && shift\nexec \"$@\"\n"},
};

/// Where make_socket_directory() records a directory it made outside the service directory.
constexpr const char* socket_directory_record = "socket-directory";
// A Unix socket's path holds at most 107 bytes; postgres adds "/.s.PGSQL.<port>.lock".
constexpr std::size_t longest_socket_directory = 80;

/// Copies everything from one descriptor to another; false with errno set on failure.
bool copy_descriptor(int from, int to) {
  std::vector<char> buffer(1 << 16);
  while (true) {
    const auto got = ::read(from, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return false;
    if (got == 0) return true;
    for (ssize_t done = 0; done < got;) {
      const auto written = ::write(to, buffer.data() + done, static_cast<std::size_t>(got - done));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return false;
      done += written;
    }
  }
}

}  // namespace

PathRoots ServicePlace::roots() const {
  PathRoots mapped = {{"/tmp", scratch().string()}, {"/etc/pgbackrest", (directory / "etc/pgbackrest").string()}};
  if (!data_path.empty()) mapped.emplace_back(fs::path(data_path).lexically_normal().string(), data().string());
  for (const auto& mounted : host_directories)
    mapped.emplace_back(fs::path(mounted.path).lexically_normal().string(), mounted.source.string());
  // Paths of this machine stay as they are, though they may begin like a container's (/tmp/...).
  const std::size_t container_paths = mapped.size();
  mapped.emplace_back(directory.string(), directory.string());
  for (std::size_t i = 0; i < container_paths; ++i) mapped.emplace_back(mapped[i].second, mapped[i].second);
  return mapped;
}

std::optional<ConfinedPath> ServicePlace::host_path(const fs::path& container_path) const {
  // The deepest root the path lies under: a container path (/tmp, the data directory, a mounted
  // repository) or the directory of this machine it stands for (a path the service reported
  // itself, such as redis's `dir`).
  std::optional<ConfinedPath> found;
  std::size_t found_depth = 0;
  for (const auto& [container_root, host_root] : roots()) {
    const fs::path root = fs::path(container_root).lexically_normal();
    const auto rest = container_path.lexically_relative(root);
    if (rest.empty() || *rest.begin() == "..") continue;
    const auto depth = static_cast<std::size_t>(std::distance(root.begin(), root.end()));
    if (!found || depth > found_depth) {
      found = ConfinedPath{host_root, rest == "." ? fs::path() : rest};
      found_depth = depth;
    }
  }
  return found;
}

void ServicePlace::create() const {
  std::error_code error;
  fs::create_directories(data(), error);
  if (!error) fs::create_directories(scratch(), error);
  if (!error) fs::create_directories(stand_ins(), error);
  if (!error && ::geteuid() != 0)
    for (const auto& [name, text] : identity_stand_ins) write_stand_in(name, text);
  if (error) throw EnvironmentError(fmt::format("cannot create {} for '{}': {}", data().string(), service, error.message()));
}

void ServicePlace::mount_size_limited(std::uint64_t bytes) const {
  const std::string options = fmt::format("size={},mode=0700", bytes);
  if (::mount("tmpfs", data().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
    throw EnvironmentError(fmt::format("cannot mount a {}-byte tmpfs on {} for '{}': {}", bytes, data().string(), service,
                                       std::strerror(errno)));
}

void ServicePlace::make_private() const {
  // The service's files (its data, configuration and password files, logs) are no other user's.
  ::chmod(directory.c_str(), 0700);
  if (!run_as) return;
  if (::chown(directory.c_str(), run_as->first, run_as->second) != 0 ||
      ::chown(data().c_str(), run_as->first, run_as->second) != 0 ||
      ::chown(scratch().c_str(), run_as->first, run_as->second) != 0)
    throw EnvironmentError(fmt::format("cannot give {} to the service's user: {}", directory.string(), std::strerror(errno)));
  ::chmod(data().c_str(), 0700);
}

void ServicePlace::write_stand_in(const std::string& name, const std::string& text) const {
  const fs::path path = stand_ins() / name;
  std::ofstream(path, std::ios::trunc) << text;
  ::chmod(path.c_str(), 0755);
}

void ServicePlace::write_private_file(const fs::path& path, const std::string& text, const std::string& what) const {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  const bool written = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       (!run_as || ::fchown(fd, run_as->first, run_as->second) == 0);
  const std::string why = std::strerror(errno);
  if (fd >= 0) ::close(fd);
  if (!written) throw EnvironmentError(fmt::format("cannot write {}: {}", what, why));
}

fs::path ServicePlace::make_socket_directory() const {
  if (directory.string().size() <= longest_socket_directory) return directory;
  std::string pattern = (fs::temp_directory_path() / "firedrill-socket-XXXXXX").string();
  if (!::mkdtemp(pattern.data()))
    throw EnvironmentError(fmt::format("cannot create a socket directory for '{}': {}", service, std::strerror(errno)));
  std::ofstream(directory / socket_directory_record) << pattern << "\n";
  if (run_as && ::chown(pattern.c_str(), run_as->first, run_as->second) != 0)
    throw EnvironmentError(fmt::format("cannot give {} to the service's user: {}", pattern, std::strerror(errno)));
  return pattern;
}

void remove_socket_directory(const fs::path& directory) {
  std::ifstream record(directory / socket_directory_record);
  std::string recorded;
  std::getline(record, recorded);
  std::error_code ignored;
  if (!recorded.empty()) fs::remove_all(recorded, ignored);
  fs::remove(directory / socket_directory_record, ignored);
}

void release_data_mount(const fs::path& directory, std::vector<std::string>& errors) {
  const fs::path data = directory / "data";
  if (is_mount_point(data)) unmount_stacked(data, errors);
}

void copy_out(const ConfinedPath& source, const fs::path& target, const std::string& what) {
  fs::path partial = target;
  partial += ".partial";
  std::optional<ConfinedFile> input;
  try {
    input.emplace(source, O_RDONLY | O_NONBLOCK);
  } catch (const std::runtime_error& error) {
    throw EnvironmentError(fmt::format("cannot copy {}: {}", what, error.what()));
  }
  const int output = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (output < 0)
    throw EnvironmentError(fmt::format("cannot copy {}: cannot create {}: {}", what, partial.string(), std::strerror(errno)));
  bool copied = copy_descriptor(input->descriptor(), output);
  const int copy_errno = errno;
  copied = ::close(output) == 0 && copied;
  std::error_code error;
  if (copied) fs::rename(partial, target, error);
  if (!copied || error) {
    std::error_code ignored;
    fs::remove(partial, ignored);
    throw EnvironmentError(fmt::format("cannot copy {}: {}", what, copied ? error.message() : std::strerror(copy_errno)));
  }
}

void copy_in(const fs::path& source, const ConfinedPath& target, const std::optional<std::pair<uid_t, gid_t>>& owner,
             const std::string& what) {
  const auto fail = [&](const std::string& why) { return EnvironmentError(fmt::format("cannot copy {}: {}", what, why)); };
  const int input = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (input < 0) throw fail(std::strerror(errno));
  int output = -1;
  try {
    output = open_confined(target, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  } catch (const std::runtime_error& error) {
    ::close(input);
    throw fail(error.what());
  }
  bool copied = copy_descriptor(input, output);
  const int copy_errno = errno;
  ::close(input);
  ::fchmod(output, 0644);
  if (owner) {
    [[maybe_unused]] auto ignored = ::fchown(output, owner->first, owner->second);
  }
  copied = ::close(output) == 0 && copied;
  if (!copied) throw fail(std::strerror(copy_errno));
}

}  // namespace firedrill
