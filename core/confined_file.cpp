#include "core/confined_file.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill {

bool is_single_path_component(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

int open_confined(const ConfinedPath& path, int flags, mode_t mode) {
  const int root = ::open(path.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    throw std::runtime_error(fmt::format("cannot open the directory {}: {}", path.root.string(), std::strerror(errno)));
  // An empty relative path means the root itself; openat2 wants "." for that.
  const std::string inside = path.inside.empty() ? std::string(".") : path.inside.relative_path().string();
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = -1;
  do {
    fd = static_cast<int>(::syscall(SYS_openat2, root, inside.c_str(), &how, sizeof how));
  } while (fd < 0 && errno == EAGAIN);  // a rename elsewhere raced the lookup: safe to retry
  const int saved = errno;
  ::close(root);
  if (fd < 0)
    throw std::runtime_error(fmt::format("cannot open {}: {}", path.shown().string(),
                                         saved == ELOOP ? "it is a symbolic link" : std::strerror(saved)));
  return fd;
}

ConfinedFile::ConfinedFile(const ConfinedPath& path, int flags) : shown_(path.shown()), fd_(open_confined(path, flags)) {
  struct stat status {};
  if (::fstat(fd_, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(fd_);
    throw std::runtime_error(fmt::format("{} is not a regular file", shown_.string()));
  }
}

ConfinedFile::~ConfinedFile() { ::close(fd_); }

std::uint64_t ConfinedFile::size() const {
  struct stat status {};
  if (::fstat(fd_, &status) != 0)
    throw std::runtime_error(fmt::format("cannot read the size of {}: {}", shown_.string(), std::strerror(errno)));
  return static_cast<std::uint64_t>(status.st_size);
}

std::uint8_t ConfinedFile::read_at(std::uint64_t offset) const {
  std::uint8_t byte = 0;
  const auto got = ::pread(fd_, &byte, 1, static_cast<off_t>(offset));
  if (got != 1)
    throw std::runtime_error(fmt::format("cannot read byte {} of {}: {}", offset, shown_.string(),
                                         got == 0 ? "the file is shorter" : std::strerror(errno)));
  return byte;
}

void ConfinedFile::write_at(std::uint64_t offset, std::uint8_t byte) const {
  if (::pwrite(fd_, &byte, 1, static_cast<off_t>(offset)) != 1)
    throw std::runtime_error(fmt::format("cannot write byte {} of {}: {}", offset, shown_.string(), std::strerror(errno)));
}

std::string ConfinedFile::read_prefix(std::size_t size) const {
  std::string bytes(size, '\0');
  std::size_t have = 0;
  while (have < size) {
    const auto got = ::pread(fd_, bytes.data() + have, size - have, static_cast<off_t>(have));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error(fmt::format("cannot read {}: {}", shown_.string(), std::strerror(errno)));
    if (got == 0) break;
    have += static_cast<std::size_t>(got);
  }
  bytes.resize(have);
  return bytes;
}

void ConfinedFile::sync() const {
  if (::fsync(fd_) != 0) throw std::runtime_error(fmt::format("cannot sync {}: {}", shown_.string(), std::strerror(errno)));
}

}  // namespace firedrill
