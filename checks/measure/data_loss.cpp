// What survived the incident: the set of ids read back after recovery, readback.jsonl written and
// read, and the acknowledged writes missing from it, with the RPO (the definitions in analysis.hpp).
#include "checks/measure/analysis.hpp"

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "checks/measure/analysis_internal.hpp"

namespace firedrill {
namespace {

// Ids with a larger numeric suffix than this go to the hash set, bounding a bitmap to 16 MiB.
constexpr std::uint64_t max_bitmap_suffix = std::uint64_t{1} << 27;
// Beyond this many distinct stems, a linear scan would cost more than hashing.
constexpr std::size_t max_stems = 16;
constexpr std::size_t lost_sample_size = 20;

// Splits `<stem>-<n>` where n is a canonical decimal below max_bitmap_suffix.
struct NumberedId {
  std::string_view stem;
  std::uint64_t n = 0;
};

std::optional<NumberedId> split_numbered(std::string_view id) {
  const auto dash = id.rfind('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view digits = id.substr(dash + 1);
  if (digits.empty() || digits.size() > 10 || (digits.size() > 1 && digits[0] == '0')) {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n >= max_bitmap_suffix) return std::nullopt;
  return NumberedId{id.substr(0, dash), n};
}

}  // namespace

std::size_t IdSet::stem_index(std::string_view stem) const {
  for (std::size_t i = 0; i < stems_.size(); ++i) {
    if (stems_[i].text.size() == stem.size() && stems_[i].text == stem) return i;
  }
  return stems_.size();
}

void IdSet::insert(std::string_view id) {
  if (const auto numbered = split_numbered(id)) {
    std::size_t index = stem_index(numbered->stem);
    if (index == stems_.size() && stems_.size() < max_stems) stems_.push_back({std::string(numbered->stem), {}});
    if (index < stems_.size()) {
      Stem* stem = &stems_[index];
      const std::size_t word = numbered->n / 64;
      const std::uint64_t bit = std::uint64_t{1} << (numbered->n % 64);
      if (word >= stem->bits.size()) stem->bits.resize(std::max(word + 1, stem->bits.size() * 2));
      if ((stem->bits[word] & bit) == 0) {
        stem->bits[word] |= bit;
        ++size_;
      }
      return;
    }
  }
  if (others_.emplace(id).second) ++size_;
}

bool IdSet::contains(std::string_view id) const {
  if (const auto numbered = split_numbered(id)) {
    const std::size_t index = stem_index(numbered->stem);
    if (index < stems_.size()) {
      const Stem* stem = &stems_[index];
      const std::size_t word = numbered->n / 64;
      return word < stem->bits.size() && (stem->bits[word] >> (numbered->n % 64) & 1U) != 0;
    }
  }
  if (others_.empty()) return false;
  return others_.count(std::string(id)) != 0;
}

std::vector<std::string> IdSet::ids() const {
  std::vector<std::string> all;
  all.reserve(size_);
  for (const Stem& stem : stems_) {
    for (std::size_t word = 0; word < stem.bits.size(); ++word) {
      for (std::uint64_t bits = stem.bits[word]; bits != 0; bits &= bits - 1) {
        const auto n = word * 64 + static_cast<std::size_t>(__builtin_ctzll(bits));
        all.push_back(fmt::format("{}-{}", stem.text, n));
      }
    }
  }
  std::vector<std::string> others(others_.begin(), others_.end());
  std::sort(others.begin(), others.end());
  all.insert(all.end(), std::make_move_iterator(others.begin()), std::make_move_iterator(others.end()));
  return all;
}

void write_readback(const std::filesystem::path& path, const Readback& readback) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot open for writing", path.string()));
  for (const auto& [writer, data] : readback.writers) {
    // Streamed id by id: a readback of millions of ids need not exist twice in memory as JSON.
    out << "{\"writer\":" << nlohmann::json(writer).dump() << ",\"t\":\"" << format_rfc3339_micros(data.t) << "\"";
    if (!data.error.empty()) {
      out << ",\"error\":" << nlohmann::json(data.error).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
          << "}\n";
      continue;
    }
    out << ",\"present\":[";
    bool first = true;
    for (const std::string& id : data.present.ids()) {
      out << (first ? "" : ",") << nlohmann::json(id).dump();
      first = false;
    }
    out << "]}\n";
  }
  out.flush();
  if (!out) throw std::runtime_error(fmt::format("{}: write failed", path.string()));
}

Readback read_readback(const std::filesystem::path& path) {
  Readback readback;
  for_each_jsonl_line(path, [&](const nlohmann::json& line) {
    if (!line.is_object()) throw std::invalid_argument("a readback line is not a JSON object");
    if (!line.contains("writer") || !line["writer"].is_string()) throw std::invalid_argument("missing 'writer'");
    if (!line.contains("t") || !line["t"].is_string()) throw std::invalid_argument("missing 't'");
    const auto [entry, added] = readback.writers.try_emplace(line["writer"].get<std::string>());
    if (!added) throw std::invalid_argument("a second line for the same writer");
    WriterReadback& data = entry->second;
    data.t = parse_rfc3339(line["t"].get<std::string>());
    if (line.contains("error")) {
      if (!line["error"].is_string() || line["error"].get_ref<const std::string&>().empty() || line.contains("present"))
        throw std::invalid_argument("'error' is not a non-empty text alone in place of 'present'");
      data.error = line["error"].get<std::string>();
      return;
    }
    if (!line.contains("present") || !line["present"].is_array()) throw std::invalid_argument("missing 'present' array");
    for (const auto& id : line["present"]) {
      if (!id.is_string()) throw std::invalid_argument("a present id is not a string");
      data.present.insert(id.get_ref<const std::string&>());
    }
  });
  return readback;
}

DataLossMeasure measure_data_loss(const std::vector<Ack>& acks, const Readback& readback,
                                  std::optional<Micros> incident_at,
                                  const std::vector<std::string>& writers) {
  DataLossMeasure m;
  struct WriterEntry {
    const std::string* name;
    bool in_scope;
    const WriterReadback* readback;
  };
  // Few writers, many acks: a short list of the writers seen replaces a map lookup per ack.
  std::vector<WriterEntry> seen;
  auto entry_of = [&](const std::string& name) -> const WriterEntry& {
    for (const WriterEntry& entry : seen) {
      if (*entry.name == name) return entry;
    }
    const auto found = readback.writers.find(name);
    seen.push_back({&name, writers.empty() || in_list(writers, name),
                    found == readback.writers.end() ? nullptr : &found->second});
    return seen.back();
  };

  bool readback_complete = true;
  std::optional<Micros> earliest_lost_before;
  std::vector<std::pair<Micros, const Ack*>> sample;  // sorted by ack time, at most lost_sample_size
  for (const Ack& ack : acks) {
    const WriterEntry& writer = entry_of(ack.writer);
    if (!writer.in_scope) continue;
    ++m.writes_sent;
    if (ack.outcome != WriteOutcome::ok || !ack.acked) {
      ++m.failed;
      continue;
    }
    ++m.acked;
    if (writer.readback == nullptr || !writer.readback->error.empty()) {
      readback_complete = false;
      if (writer.readback != nullptr && m.readback_error.empty())
        m.readback_error = fmt::format("the read-back of '{}' failed: {}", *writer.name, writer.readback->error);
      continue;
    }
    if (writer.readback->present.contains(ack.id)) continue;
    ++m.lost_acked;
    const Micros acked = *ack.acked;
    if (incident_at) {
      if (acked < *incident_at) {
        ++m.lost_acked_before_incident;
        if (!earliest_lost_before || acked < *earliest_lost_before) earliest_lost_before = acked;
      } else {
        ++m.lost_acked_after_incident;
      }
    }
    if (sample.size() < lost_sample_size || acked < sample.back().first) {
      const auto at = std::upper_bound(sample.begin(), sample.end(), acked,
                                       [](Micros t, const auto& entry) { return t < entry.first; });
      sample.insert(at, {acked, &ack});
      if (sample.size() > lost_sample_size) sample.pop_back();
    }
  }

  m.readback_available = readback_complete && (m.acked > 0 || !readback.writers.empty());
  if (!m.readback_available) {
    // The writers whose read-back ran still say what they lost: a lower bound, never a count.
    if (!m.readback_error.empty() && m.lost_acked > 0)
      m.readback_error += fmt::format("; at least {} acknowledged write{} of the writers read back {} lost", m.lost_acked,
                                      m.lost_acked == 1 ? "" : "s", m.lost_acked == 1 ? "is" : "are");
    m.lost_acked = m.lost_acked_before_incident = m.lost_acked_after_incident = 0;
    return m;
  }
  for (const auto& [t, ack] : sample) m.lost_sample.push_back(ack->id);
  if (incident_at) {
    m.rpo_seconds = earliest_lost_before ? seconds_between(*earliest_lost_before, *incident_at) : 0.0;
  }
  return m;
}

}  // namespace firedrill
