// The bytes `corrupt` changes (corrupt_bytes.hpp): drawn from the seed, read and written through
// confined files, put back only where the file still holds what the fault wrote.
#include "injectors/corrupt_bytes.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill {
namespace corrupt {
namespace {

std::string hex_byte(std::uint8_t byte) { return fmt::format("{:02x}", byte); }

}  // namespace

std::vector<PlannedChange> plan_changes(const std::vector<Region>& regions, std::uint64_t seed, std::size_t count) {
  std::uint64_t total = 0;
  for (const auto& region : regions)
    if (region.end > region.begin) total += region.end - region.begin;
  count = static_cast<std::size_t>(std::min<std::uint64_t>(count, total));

  // Raw generator output, not a std:: distribution: distributions differ between standard
  // libraries, the generator's sequence does not. The modulo bias is negligible for file sizes.
  std::mt19937_64 random(seed);
  std::set<std::uint64_t> offsets;
  while (offsets.size() < count) {
    std::uint64_t index = random() % total;
    for (const auto& region : regions) {
      if (region.end <= region.begin) continue;
      const std::uint64_t size = region.end - region.begin;
      if (index < size) {
        offsets.insert(region.begin + index);
        break;
      }
      index -= size;
    }
  }
  std::vector<PlannedChange> plan;
  plan.reserve(offsets.size());
  for (auto offset : offsets) plan.push_back({offset, static_cast<std::uint8_t>(1 + random() % 255)});
  return plan;
}

std::vector<Region> relation_regions(std::uint64_t file_size) {
  std::vector<Region> regions;
  for (std::uint64_t page = 0; page < file_size / postgres_page_size; ++page)
    regions.push_back({page * postgres_page_size + postgres_page_header_size, (page + 1) * postgres_page_size});
  return regions;
}

std::vector<ByteChange> read_changes(const ConfinedPath& file, const std::vector<PlannedChange>& plan) {
  const ConfinedFile input(file, O_RDONLY | O_NONBLOCK);
  std::vector<ByteChange> changes;
  changes.reserve(plan.size());
  for (const auto& planned : plan) {
    const std::uint8_t old_value = input.read_at(planned.offset);
    changes.push_back({planned.offset, old_value, static_cast<std::uint8_t>(old_value ^ planned.mask)});
  }
  return changes;
}

void write_changes(const ConfinedPath& file, const std::vector<ByteChange>& changes) {
  const ConfinedFile output(file, O_WRONLY | O_NONBLOCK);
  for (const auto& change : changes) output.write_at(change.offset, change.new_value);
  output.sync();
}

const char* to_string(RestoreOutcome outcome) {
  switch (outcome) {
    case RestoreOutcome::restored: return "restored";
    case RestoreOutcome::already_restored: return "already_restored";
    case RestoreOutcome::changed_since: return "changed_since";
    case RestoreOutcome::missing: return "missing";
  }
  return "unknown";
}

RestoreOutcome restore(const ConfinedPath& file, const std::vector<ByteChange>& changes) {
  int probe = -1;
  try {
    probe = open_confined(file, O_PATH);
  } catch (const std::runtime_error&) {
    return RestoreOutcome::missing;
  }
  ::close(probe);
  const ConfinedFile output(file, O_RDWR | O_NONBLOCK);
  std::vector<const ByteChange*> still_changed;
  for (const auto& change : changes) {
    std::uint8_t now = 0;
    try {
      now = output.read_at(change.offset);
    } catch (const std::runtime_error&) {
      return RestoreOutcome::changed_since;  // shorter than it was: rewritten
    }
    if (now == change.new_value) still_changed.push_back(&change);
    else if (now != change.old_value) return RestoreOutcome::changed_since;
  }
  if (still_changed.empty()) return RestoreOutcome::already_restored;
  for (const auto* change : still_changed) output.write_at(change->offset, change->old_value);
  output.sync();
  return RestoreOutcome::restored;
}

nlohmann::json to_json(const std::vector<ByteChange>& changes) {
  auto listed = nlohmann::json::array();
  for (const auto& change : changes)
    listed.push_back({{"offset", change.offset}, {"old", hex_byte(change.old_value)}, {"new", hex_byte(change.new_value)}});
  return listed;
}

std::vector<ByteChange> changes_from_json(const nlohmann::json& listed) {
  std::vector<ByteChange> changes;
  for (const auto& change : listed) {
    changes.push_back({change.at("offset").get<std::uint64_t>(),
                       static_cast<std::uint8_t>(std::stoul(change.at("old").get<std::string>(), nullptr, 16)),
                       static_cast<std::uint8_t>(std::stoul(change.at("new").get<std::string>(), nullptr, 16))});
  }
  return changes;
}

void revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  // Only the root the runtime chose is trusted; the rest is resolved inside it, as when applied.
  if (!inverse.contains("host_root"))
    throw std::runtime_error("the journal gives no root for the corrupted file (written by an older firedrill); "
                             "left alone");
  const ConfinedPath file{inverse.at("host_root").get<std::string>(), inverse.value("host_inside", std::string())};
  const auto outcome = restore(file, changes_from_json(inverse.at("changes")));
  const std::string service = inverse.value("service", "");
  // Without its file the service's container is gone too: nothing to start.
  if (outcome != RestoreOutcome::missing && inverse.value("start_service", false) && !service.empty() &&
      !runtime.is_running(service))
    process_control(runtime).start_again(service);
}

}  // namespace corrupt

}  // namespace firedrill
