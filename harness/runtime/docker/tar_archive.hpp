#pragma once
// The tar archives the Engine API speaks for copying files into and out of containers
// (PUT/GET /containers/{id}/archive): a one-file archive to send, and a streaming reader that
// takes the first regular file out of what the engine returns.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace firedrill::tar {

/// The 512-byte ustar header of a regular file `name` (at most 100 bytes, no directories) of
/// `size` bytes with permission bits `mode`; sizes of 8 GiB and more use the base-256 encoding.
std::string file_header(const std::string& name, std::uint64_t size, unsigned mode);

/// Zero bytes that pad a member of `size` bytes to the 512-byte block size.
std::string padding(std::uint64_t size);

/// The two zero blocks that end an archive.
std::string end_of_archive();

/// Reads a tar stream fed in pieces and passes the data of its first regular file to `sink`;
/// PAX ('x', 'g') and GNU long-name ('L', 'K') members and directories before it are skipped.
class FirstFileReader {
 public:
  explicit FirstFileReader(std::function<void(std::string_view)> sink) : sink_(std::move(sink)) {}

  /// Consumes the next bytes of the stream. Throws std::runtime_error for a malformed header.
  void feed(std::string_view bytes);
  /// True once the whole first regular file went to the sink.
  bool complete() const { return state_ == State::done; }
  /// Size the archive declares for the file (0 before its header was read).
  std::uint64_t file_size() const { return file_size_; }

 private:
  enum class State { header, skip, file, done };
  void take_header();

  std::function<void(std::string_view)> sink_;
  State state_ = State::header;
  std::string header_;
  std::uint64_t remaining_ = 0;     // data bytes of the current member still to come
  std::uint64_t padding_left_ = 0;  // padding after it
  std::uint64_t file_size_ = 0;
  std::uint64_t pax_size_ = 0;
  bool has_pax_size_ = false;
  bool pax_member_ = false;
  std::string pax_records_;
};

}  // namespace firedrill::tar
