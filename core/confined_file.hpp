#pragma once
// Files the harness reaches as root on behalf of something it does not trust. A container
// names its own files (psql's pg_relation_filepath, Redis' `dir`, `ls` in a backup directory),
// and whoever owns those files inside it can turn any of them into a symlink or `..`: resolved
// by this machine's root that would reach /etc/shadow. Every such open goes through here, where
// the kernel resolves the untrusted part of the path as if the trusted directory were `/`.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace firedrill {

/// A file below a directory the harness chose and trusts (a container's data root on this
/// machine, a run's directory), at a relative path that something untrusted named.
struct ConfinedPath {
  std::filesystem::path root;
  std::filesystem::path inside;

  /// root/inside as text, for messages and the journal; never opened as such.
  std::filesystem::path shown() const { return inside.empty() ? root : root / inside; }
};

/// True when name is one path component: not empty, not "." or "..", no '/' and no NUL.
bool is_single_path_component(std::string_view name);

/// Opens path.inside below path.root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS):
/// "..", absolute symlinks and relative ones all resolve within root, so nothing outside it is
/// reached whatever the untrusted side made of its files. flags may include O_CREAT, O_EXCL and
/// O_NOFOLLOW (the last refuses a symlink as the final component). Throws std::runtime_error
/// naming path.shown() and why.
int open_confined(const ConfinedPath& path, int flags, mode_t mode = 0);

/// An open regular file reached through open_confined, closed on scope exit.
class ConfinedFile {
 public:
  /// Refuses anything but a regular file (a FIFO would hang a read, a device would be written).
  ConfinedFile(const ConfinedPath& path, int flags);
  ConfinedFile(const ConfinedFile&) = delete;
  ConfinedFile& operator=(const ConfinedFile&) = delete;
  ~ConfinedFile();

  std::uint64_t size() const;
  /// Throws when the file is shorter than offset + 1.
  std::uint8_t read_at(std::uint64_t offset) const;
  void write_at(std::uint64_t offset, std::uint8_t byte) const;
  /// Up to size bytes from the start (fewer when the file is shorter).
  std::string read_prefix(std::size_t size) const;
  void sync() const;
  int descriptor() const { return fd_; }

 private:
  std::filesystem::path shown_;
  int fd_;
};

}  // namespace firedrill
