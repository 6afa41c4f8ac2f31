#include "harness/runtime/docker/tar_archive.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill::tar {
namespace {

constexpr std::size_t block = 512;

void put_octal(std::string& header, std::size_t offset, std::size_t width, std::uint64_t value) {
  // width - 1 octal digits and a NUL, as ustar writers do.
  const std::string digits = fmt::format("{:0{}o}", value, width - 1);
  std::memcpy(header.data() + offset, digits.data(), width - 1);
  header[offset + width - 1] = '\0';
}

std::uint64_t read_number(std::string_view field) {
  if (!field.empty() && (static_cast<unsigned char>(field[0]) & 0x80) != 0) {
    std::uint64_t value = static_cast<unsigned char>(field[0]) & 0x7F;
    for (std::size_t i = 1; i < field.size(); ++i) value = (value << 8) | static_cast<unsigned char>(field[i]);
    return value;
  }
  std::uint64_t value = 0;
  for (char c : field) {
    if (c == '\0' || c == ' ') {
      if (value != 0) break;
      continue;
    }
    if (c < '0' || c > '7') throw std::runtime_error(fmt::format("malformed number in a tar header: '{}'", field));
    value = value * 8 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

std::uint64_t padded(std::uint64_t size) { return (block - size % block) % block; }

}  // namespace

std::string file_header(const std::string& name, std::uint64_t size, unsigned mode) {
  if (name.empty() || name.size() > 100 || name.find('/') != std::string::npos)
    throw std::invalid_argument(fmt::format("a tar member name must be 1-100 bytes without '/': '{}'", name));
  std::string header(block, '\0');
  std::memcpy(header.data(), name.data(), name.size());
  put_octal(header, 100, 8, mode & 07777);
  put_octal(header, 108, 8, 0);
  put_octal(header, 116, 8, 0);
  if (size < (std::uint64_t{1} << 33)) {
    put_octal(header, 124, 12, size);
  } else {
    header[124] = static_cast<char>(0x80);
    for (int i = 0; i < 8; ++i) header[135 - i] = static_cast<char>((size >> (8 * i)) & 0xFF);
  }
  put_octal(header, 136, 12, 0);
  header[156] = '0';
  std::memcpy(header.data() + 257, "ustar", 6);
  std::memcpy(header.data() + 263, "00", 2);
  std::memset(header.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char byte : header) sum += byte;
  const std::string checksum = fmt::format("{:06o}", sum);
  std::memcpy(header.data() + 148, checksum.data(), 6);
  header[154] = '\0';
  header[155] = ' ';
  return header;
}

std::string padding(std::uint64_t size) { return std::string(padded(size), '\0'); }

std::string end_of_archive() { return std::string(2 * block, '\0'); }

void FirstFileReader::take_header() {
  if (std::all_of(header_.begin(), header_.end(), [](char c) { return c == '\0'; }))
    throw std::runtime_error("the tar archive ended before a regular file");
  const char type = header_[156];
  std::uint64_t size = read_number(std::string_view(header_).substr(124, 12));
  if ((type == '0' || type == '\0' || type == '7') && has_pax_size_) size = pax_size_;
  header_.clear();
  pax_member_ = false;
  if (type == '0' || type == '\0' || type == '7') {
    has_pax_size_ = false;
    file_size_ = size;
    remaining_ = size;
    state_ = size == 0 ? State::done : State::file;
    return;
  }
  if (type == 'x') {
    pax_member_ = true;
    pax_records_.clear();
  }
  remaining_ = size;
  padding_left_ = padded(size);
  state_ = State::skip;
}

void FirstFileReader::feed(std::string_view bytes) {
  while (!bytes.empty() && state_ != State::done) {
    if (state_ == State::header) {
      const std::size_t take = std::min(bytes.size(), block - header_.size());
      header_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (header_.size() == block) take_header();
      continue;
    }
    if (remaining_ > 0) {
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), remaining_));
      if (state_ == State::file) sink_(bytes.substr(0, take));
      if (pax_member_) pax_records_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      remaining_ -= take;
      if (remaining_ == 0 && state_ == State::file) state_ = State::done;
      continue;
    }
    const std::size_t skip = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), padding_left_));
    bytes.remove_prefix(skip);
    padding_left_ -= skip;
    if (padding_left_ == 0) {
      if (pax_member_) {
        // Records are "<length> <key>=<value>\n"; only the size matters for one file's data.
        const auto at = pax_records_.find(" size=");
        if (at != std::string::npos) {
          const char* first = pax_records_.data() + at + 6;
          const char* last = pax_records_.data() + pax_records_.size();
          const auto [end, error] = std::from_chars(first, last, pax_size_);
          if (error != std::errc() || end == first)
            throw std::runtime_error("malformed tar archive from the engine: a pax size that is no number");
          has_pax_size_ = true;
        }
      }
      state_ = State::header;
    }
  }
}

}  // namespace firedrill::tar
