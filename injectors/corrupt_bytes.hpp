#pragma once
// The bytes `corrupt` changes: which ones, drawn from a seed; their old and new values, written
// and put back; their form in the journal; and the revert `firedrill cleanup` runs from it.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/confined_file.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

namespace corrupt {

/// One changed byte of a file: where, what it held, what it holds after the fault.
struct ByteChange {
  std::uint64_t offset = 0;
  std::uint8_t old_value = 0;
  std::uint8_t new_value = 0;
  bool operator==(const ByteChange&) const = default;
};

/// A byte that is to change: where, and the non-zero mask XORed into it (so the new value always
/// differs from the old one).
struct PlannedChange {
  std::uint64_t offset = 0;
  std::uint8_t mask = 1;
  bool operator==(const PlannedChange&) const = default;
};

/// The bytes [begin, end) of a file where changes may land.
struct Region {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

/// Postgres' page size and page header size (PageHeaderData): the checksum of a page covers all
/// of it, so any byte past the header changed makes the page fail verification.
inline constexpr std::uint64_t postgres_page_size = 8192;
inline constexpr std::uint64_t postgres_page_header_size = 24;

/// `count` distinct offsets in `regions` with their masks, sorted by offset, drawn from
/// std::mt19937_64(seed) — whose output the standard fixes, so a seed names the same bytes on
/// every platform. Fewer than `count` when the regions hold fewer bytes.
std::vector<PlannedChange> plan_changes(const std::vector<Region>& regions, std::uint64_t seed, std::size_t count);

/// The regions of a Postgres relation file of `file_size` bytes: every whole page past its header.
std::vector<Region> relation_regions(std::uint64_t file_size);

/// Reads the bytes the plan will change and returns the changes it will make. Throws
/// std::runtime_error when the file cannot be read or is shorter than an offset.
std::vector<ByteChange> read_changes(const ConfinedPath& file, const std::vector<PlannedChange>& plan);

/// Writes each change's new value and syncs the file. Throws std::runtime_error on failure.
void write_changes(const ConfinedPath& file, const std::vector<ByteChange>& changes);

enum class RestoreOutcome {
  restored,          // every changed byte holds its old value again
  already_restored,  // nothing held a new value: an earlier revert did it
  changed_since,     // some byte holds neither value: the file was rewritten or replaced (a
                     // restore from backup, say), so it is left alone
  missing,           // the file is gone
};
const char* to_string(RestoreOutcome outcome);

/// Puts the old values back where a byte still holds its new value, and only when every byte
/// holds its old or its new value — writing old bytes into a file that was replaced since would
/// corrupt it anew. Safe to call any number of times.
RestoreOutcome restore(const ConfinedPath& file, const std::vector<ByteChange>& changes);

/// [{offset, old, new}] with old/new as two-digit lowercase hex ("0a").
nlohmann::json to_json(const std::vector<ByteChange>& changes);
std::vector<ByteChange> changes_from_json(const nlohmann::json& changes);

/// Reverts a journalled {"type":"corrupt"} inverse (for `firedrill cleanup`): restores the bytes,
/// then starts the service again when the fault had stopped it and it is not running.
void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);

}  // namespace corrupt

}  // namespace firedrill
