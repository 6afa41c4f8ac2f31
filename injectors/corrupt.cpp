// How each `what` finds its file, and why those bytes:
// - relation: the table's main data file (pg_relation_filepath: its first 1 GB segment), any byte
//   of a page past its 24-byte header. Postgres runs with data checksums (the postgres kind asks
//   initdb for them; firedrill/postgres always has them), and a page's checksum covers all of it,
//   so the next read of that page fails with "invalid page in block N" after a "page verification
//   failed" warning. A CHECKPOINT runs first and Postgres is stopped with its fast shutdown (INT),
//   which writes every dirty page, so the file holds the rows and no crash recovery replays a
//   full-page image over the damage.
// - wal: the record of the latest checkpoint, in the segment that holds it (found from
//   global/pg_control once Postgres stopped). That record is the one WAL record Postgres must read
//   to start at all, whether for crash recovery or for a standby: a damaged one fails its CRC and
//   Postgres refuses to start ("could not locate a valid checkpoint record"). Damage to an older,
//   completed segment would go unnoticed until an archive replay or a lagging standby needed it,
//   and damage past the end of the WAL would look like the end of the WAL and be skipped.
// - rdb: Redis' `dir`/`dbfilename`, after Redis was stopped with TERM (which saves it anew). The
//   RDB ends with a CRC64, so Redis refuses to load the damaged file and does not start.
// - aof: the newest non-empty incremental AOF of Redis 7's manifest (else its base file; the
//   single appendonly file before Redis 7). The AOF has no checksum: a change to the protocol
//   makes Redis refuse to start, a change inside a value is loaded as different data.
// - backup: a file of the run's backup repository (<run directory>/backups), for drills that
//   validate backups; no service is involved.
// - file: `path` in the target's container, changed while the service runs.
// Reverting writes the old bytes back while the service runs: Postgres never admitted the
// damaged page to its buffers and Redis or Postgres that refused to start has nothing open. A
// service the fault stopped that is not running at revert (it refused to start) is started again.
#include "injectors/corrupt.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "clients/workload/workload.hpp"

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

namespace {

using namespace std::chrono_literals;
using corrupt::ByteChange;
using corrupt::Region;
using nlohmann::json;

const std::vector<std::string>& what_words() {
  static const std::vector<std::string> words{"relation", "wal", "rdb", "aof", "backup", "file"};
  return words;
}

std::uint64_t unsigned_param(const StepSpec& step, const std::string& name, std::uint64_t fallback) {
  return whole_number_param(step, name).value_or(fallback);
}

std::chrono::milliseconds grace_of(const StepSpec& step) {
  auto configured = step.params.find("grace");
  if (configured == step.params.end() || !configured->second.duration) return 30s;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*configured->second.duration);
}

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  return text.substr(start);
}

std::string sql_literal(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  return quoted + "'";
}

/// Runs one statement with psql inside the Postgres container, over its Unix socket (which the
/// image trusts), as the container's POSTGRES_USER on its POSTGRES_DB; returns the unaligned output.
std::string psql(Runtime& runtime, const std::string& service, const std::string& sql) {
  static const std::string command =
      "exec psql -X -q -v ON_ERROR_STOP=1 -tA --no-password --username=\"${POSTGRES_USER:-postgres}\" "
      "--dbname=\"${POSTGRES_DB:-${POSTGRES_USER:-postgres}}\" -c \"$1\"";
  const auto result = runtime.exec(service, {"sh", "-c", command, "psql", sql}, 120s);
  if (result.exit_code != 0)
    throw EnvironmentError(fmt::format("psql in '{}' failed for `{}`: {}", service, sql, trimmed(result.output)));
  return trimmed(result.output);
}

/// One setting of the Redis in the container (empty when this Redis has no such setting).
std::string redis_config(Runtime& runtime, const std::string& service, const std::string& name) {
  const auto result = runtime.exec(service, {"redis-cli", "--raw", "CONFIG", "GET", name}, 30s);
  if (result.exit_code != 0)
    throw EnvironmentError(fmt::format("redis-cli in '{}' failed for CONFIG GET {}: {}", service, name, trimmed(result.output)));
  std::istringstream lines(result.output);
  std::string key;
  std::string value;
  std::getline(lines, key);
  std::getline(lines, value);
  return trimmed(key) == name ? trimmed(value) : "";
}

std::string joined(const std::string& directory, const std::string& name) {
  if (name.starts_with('/')) return name;
  return directory.ends_with('/') ? directory + name : directory + "/" + name;
}

std::uint64_t little_endian(const std::vector<std::uint8_t>& bytes, std::size_t offset, std::size_t width) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < width; ++i) value |= std::uint64_t{bytes.at(offset + i)} << (8 * i);
  return value;
}

std::vector<std::uint8_t> read_prefix(const ConfinedPath& file, std::size_t size) {
  std::string bytes;
  try {
    bytes = ConfinedFile(file, O_RDONLY | O_NONBLOCK).read_prefix(size);
  } catch (const std::runtime_error& error) {
    throw EnvironmentError(error.what());
  }
  if (bytes.size() != size)
    throw EnvironmentError(fmt::format("cannot read the first {} bytes of {}", size, file.shown().string()));
  return {bytes.begin(), bytes.end()};
}

std::uint64_t size_of(const ConfinedPath& file) {
  try {
    return ConfinedFile(file, O_RDONLY | O_NONBLOCK).size();
  } catch (const std::runtime_error& error) {
    throw EnvironmentError(error.what());
  }
}

bool is_regular_file(const ConfinedPath& file) {
  try {
    ConfinedFile(file, O_RDONLY | O_NONBLOCK);
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

ConfinedPath below(ConfinedPath path, const std::filesystem::path& rest) {
  path.inside /= rest;
  return path;
}

/// Where a fault lands: the file as the service sees it, the same file on this machine, and the
/// bytes that may change.
struct DamagedFile {
  std::string file;  // container path; the host path for a backup
  ConfinedPath host_path;
  std::vector<Region> regions;
};

DamagedFile whole_file(std::string file, ConfinedPath host_path) {
  const auto size = size_of(host_path);
  if (size == 0) throw EnvironmentError(fmt::format("{} is empty: no byte to corrupt", file));
  return {std::move(file), std::move(host_path), {{0, size}}};
}

/// The WAL segment holding the latest checkpoint record and that record's bytes, from the
/// stopped server's global/pg_control. The fields read (checkPoint at 32, the checkpoint's
/// timeline at 48) have kept their place in every pg_control version since 9.x.
DamagedFile wal_target(Runtime& runtime, const std::string& service, const std::string& data_directory,
                  std::uint64_t segment_size) {
  const auto host_directory = file_access(runtime).host_path(service, data_directory);
  const auto control = read_prefix(below(host_directory, "global/pg_control"), 56);
  const std::uint64_t checkpoint = little_endian(control, 32, 8);
  const auto timeline = static_cast<std::uint32_t>(little_endian(control, 48, 4));
  if (segment_size == 0 || checkpoint == 0 || timeline == 0)
    throw EnvironmentError(fmt::format("'{}' has no usable checkpoint in its pg_control", service));
  const std::uint64_t segment = checkpoint / segment_size;
  const std::uint64_t segments_per_id = 0x100000000ULL / segment_size;
  const std::string name = fmt::format("{:08X}{:08X}{:08X}", timeline, segment / segments_per_id, segment % segments_per_id);
  DamagedFile target;
  target.file = joined(data_directory, "pg_wal/" + name);
  target.host_path = below(host_directory, std::filesystem::path("pg_wal") / name);
  const std::uint64_t start = checkpoint % segment_size;
  const auto size = size_of(target.host_path);
  if (start + 4 > size) throw EnvironmentError(fmt::format("{} ends before its checkpoint record", target.file));
  const ConfinedFile segment_file(target.host_path, O_RDONLY | O_NONBLOCK);
  std::uint64_t record_length = 0;
  for (std::uint64_t i = 0; i < 4; ++i) record_length |= std::uint64_t{segment_file.read_at(start + i)} << (8 * i);
  // A checkpoint record is about a hundred bytes; anything else is not the record we looked for.
  if (record_length < 24 || record_length > corrupt::postgres_page_size)
    throw EnvironmentError(fmt::format("no checkpoint record at byte {} of {}", start, target.file));
  target.regions = {{start, std::min(start + record_length, size)}};
  return target;
}

/// Redis 7's newest non-empty incremental AOF from its manifest, else its base file.
std::string aof_from_manifest(const ConfinedPath& manifest) {
  std::string text;
  try {
    // A manifest lists a few files; anything much longer is not one.
    text = ConfinedFile(manifest, O_RDONLY | O_NONBLOCK).read_prefix(1 << 20);
  } catch (const std::runtime_error& error) {
    throw EnvironmentError(fmt::format("cannot read the AOF manifest: {}", error.what()));
  }
  std::istringstream input(text);
  std::string base;
  std::vector<std::string> increments;
  std::string line;
  while (std::getline(input, line)) {
    std::istringstream words(line);
    std::map<std::string, std::string> fields;
    std::string key;
    std::string value;
    while (words >> key >> value) fields[key] = value;
    if (fields["type"] == "b") base = fields["file"];
    if (fields["type"] == "i") increments.push_back(fields["file"]);
  }
  for (auto it = increments.rbegin(); it != increments.rend(); ++it) {
    if (!is_single_path_component(*it)) continue;
    ConfinedPath increment = manifest;
    increment.inside = increment.inside.parent_path() / *it;
    if (is_regular_file(increment) && size_of(increment) > 0) return *it;
  }
  if (base.empty())
    throw EnvironmentError(fmt::format("the AOF manifest {} names no file with data", manifest.shown().string()));
  return base;
}

/// The largest data file of the newest backup set in the repository (sets are <id>/manifest.json + files).
std::filesystem::path newest_backup(const std::filesystem::path& repository) {
  std::error_code error;
  if (!std::filesystem::is_directory(repository, error))
    throw EnvironmentError(fmt::format("the run has no backup repository at {} (no backup action ran?)", repository.string()));
  // The newest backup set is the greatest id (ids are UTC times); its data, not its manifest, is
  // what a damaged copy in object storage would be: the largest file other than the manifest.
  std::optional<std::filesystem::path> newest_set;
  for (const auto& entry : std::filesystem::directory_iterator(repository))
    if (entry.is_directory() && std::filesystem::exists(entry.path() / "manifest.json") &&
        (!newest_set || entry.path().filename() > newest_set->filename()))
      newest_set = entry.path();
  if (!newest_set) throw EnvironmentError(fmt::format("the backup repository {} holds no backup set", repository.string()));
  std::optional<std::filesystem::path> largest;
  std::uintmax_t largest_size = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(*newest_set)) {
    if (!entry.is_regular_file() || entry.path().filename() == "manifest.json" || entry.file_size() == 0) continue;
    if (!largest || entry.file_size() > largest_size) {
      largest = entry.path();
      largest_size = entry.file_size();
    }
  }
  if (!largest) throw EnvironmentError(fmt::format("the backup set {} holds no data file", newest_set->string()));
  return *largest;
}

/// What the running service says about where its file is, asked before it is stopped.
struct ServiceFacts {
  std::string relation_file;  // relation: data_directory/pg_relation_filepath
  std::string data_directory;  // wal
  std::uint64_t wal_segment_size = 0;
  std::string redis_directory;  // rdb, aof
  std::string redis_rdb;
  std::string redis_aof_directory;  // empty before Redis 7
  std::string redis_aof_name;
};

ServiceFacts ask_running_service(Runtime& runtime, const StepSpec& step, const std::string& what) {
  const std::string& service = step.target;
  ServiceFacts facts;
  if (what == "relation") {
    const std::string table = step.param_text("table", sql_writes_table);
    psql(runtime, service, "CHECKPOINT");
    facts.relation_file = psql(
        runtime, service,
        fmt::format("SELECT current_setting('data_directory') || '/' || pg_relation_filepath({}::regclass)", sql_literal(table)));
    if (facts.relation_file.empty() || facts.relation_file.find('\n') != std::string::npos)
      throw EnvironmentError(fmt::format("table '{}' of '{}' has no data file", table, service));
  } else if (what == "wal") {
    const auto answer = psql(runtime, service,
                             "SELECT current_setting('data_directory') || '|' || setting FROM pg_settings "
                             "WHERE name = 'wal_segment_size'");
    const auto bar = answer.rfind('|');
    if (bar == std::string::npos) throw EnvironmentError(fmt::format("'{}' did not say where its WAL is", service));
    facts.data_directory = answer.substr(0, bar);
    facts.wal_segment_size = std::stoull(answer.substr(bar + 1));
  } else if (what == "rdb" || what == "aof") {
    facts.redis_directory = redis_config(runtime, service, "dir");
    if (facts.redis_directory.empty()) throw EnvironmentError(fmt::format("'{}' did not say where its data is", service));
    facts.redis_rdb = joined(facts.redis_directory, redis_config(runtime, service, "dbfilename"));
    facts.redis_aof_directory = redis_config(runtime, service, "appenddirname");
    facts.redis_aof_name = redis_config(runtime, service, "appendfilename");
  }
  return facts;
}

/// The file to damage and where in it, once the service (if any) is still.
DamagedFile locate(const FaultContext& context, const StepSpec& step, const std::string& what, const ServiceFacts& facts) {
  Runtime& runtime = context.runtime;
  const std::string& service = step.target;
  if (what == "relation") {
    const auto host = file_access(runtime).host_path(service, facts.relation_file);
    DamagedFile target{facts.relation_file, host, corrupt::relation_regions(size_of(host))};
    if (target.regions.empty()) throw EnvironmentError(fmt::format("{} has no data page yet", facts.relation_file));
    return target;
  }
  if (what == "wal") return wal_target(runtime, service, facts.data_directory, facts.wal_segment_size);
  if (what == "rdb") {
    const auto host = file_access(runtime).host_path(service, facts.redis_rdb);
    if (!is_regular_file(host))
      throw EnvironmentError(fmt::format("'{}' has no RDB file at {} (is RDB persistence off?)", service, facts.redis_rdb));
    return whole_file(facts.redis_rdb, host);
  }
  if (what == "aof") {
    std::string file = joined(facts.redis_directory, facts.redis_aof_name);
    if (!facts.redis_aof_directory.empty()) {
      const std::string directory = joined(facts.redis_directory, facts.redis_aof_directory);
      const auto manifest = file_access(runtime).host_path(service, joined(directory, facts.redis_aof_name + ".manifest"));
      if (!is_regular_file(manifest))
        throw EnvironmentError(fmt::format("'{}' has no AOF manifest in {} (is appendonly off?)", service, directory));
      file = joined(directory, aof_from_manifest(manifest));
    }
    return whole_file(file, file_access(runtime).host_path(service, file));
  }
  if (what == "backup") {
    if (context.run_directory.empty()) throw EnvironmentError("the run has no directory, so no backup repository");
    const auto repository = context.run_directory / "backups";
    const ConfinedPath path{repository, step.params.count("path")
                                            ? std::filesystem::path(step.param_text("path"))
                                            : newest_backup(repository).lexically_relative(repository)};
    if (!is_regular_file(path)) throw EnvironmentError(fmt::format("no backup file at {}", path.shown().string()));
    return whole_file(path.shown().string(), path);
  }
  const std::string path = step.param_text("path");
  return whole_file(path, file_access(runtime).host_path(service, path));
}

struct StopPlan {
  std::string signal;
  std::string reason;
  std::string effect;
};

StopPlan stop_plan(const std::string& what) {
  if (what == "relation")
    return {"INT", "Postgres keeps pages in shared buffers and writes them back; the damaged page must be read from disk",
            "Postgres reports the damaged page (invalid page, checksum mismatch) when a query reads it"};
  if (what == "wal")
    return {"INT", "Postgres writes WAL while it runs and reads its checkpoint record when it starts",
            "Postgres refuses to start: it cannot read its latest checkpoint record"};
  if (what == "rdb")
    return {"TERM", "Redis rewrites its RDB file when it shuts down and reads it when it starts",
            "Redis refuses to load the damaged RDB file and does not start"};
  if (what == "aof")
    return {"TERM", "Redis appends to its AOF while it runs and replays it when it starts",
            "Redis refuses to start on a damaged command, or loads a changed value (the AOF has no checksum)"};
  return {};
}

/// Stops the service for the files to be still: `signal` (Postgres' fast shutdown, Redis' saving
/// shutdown), KILL after `grace`. Returns whether it had to be killed.
bool stop_gracefully(Runtime& runtime, const std::string& service, const std::string& signal,
                     std::chrono::milliseconds grace) {
  process_control(runtime).kill(service, signal);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (runtime.is_running(service)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      process_control(runtime).kill(service, "KILL");
      const auto killed_deadline = std::chrono::steady_clock::now() + 30s;
      while (runtime.is_running(service) && std::chrono::steady_clock::now() < killed_deadline)
        std::this_thread::sleep_for(20ms);
      return true;
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

}  // namespace

VerbSpec CorruptInjector::spec() {
  VerbSpec spec{
      "corrupt",
      "Change bytes of a file the target relies on, at positions drawn from `seed`; the report lists each changed byte. "
      "relation/wal/rdb/aof stop the target while its file changes and start it again.",
      false,
      {{"what", ParamType::string, true, "relation | wal | rdb | aof | backup | file"},
       {"table", ParamType::string, false,
        fmt::format("relation: the table whose data file changes, default {}", sql_writes_table)},
       {"path", ParamType::string, false,
        "file: the path in the target's container; backup: a path in the run's backups/ (default the largest data file of the newest backup set)"},
       {"seed", ParamType::integer, false, "chooses the bytes and their new values, default 1"},
       {"bytes", ParamType::integer, false, "how many bytes change, default 16"},
       {"grace", ParamType::duration, false, "time between the graceful stop signal and KILL, default 30s"}}};
  spec.check_combination = [](const StepSpec& step) { check_params(step); };
  return spec;
}

void CorruptInjector::check_params(const StepSpec& step) {
  const std::string what = step.param_text("what");
  const auto& words = what_words();
  if (std::find(words.begin(), words.end(), what) == words.end())
    throw std::invalid_argument(fmt::format(
        "step '{}': corrupt 'what' must be one of relation, wal, rdb, aof, backup, file (got '{}')", step.name, what));
  if (what != "backup" && step.target.empty())
    throw std::invalid_argument(
        fmt::format("step '{}': corrupt what: {} needs a 'target' (the service whose file changes)", step.name, what));
  const bool has_path = step.params.count("path") != 0;
  if (what == "file" && (!has_path || !step.param_text("path").starts_with('/')))
    throw std::invalid_argument(
        fmt::format("step '{}': corrupt what: file needs 'path', an absolute path in the target's container", step.name));
  if (has_path && what != "file" && what != "backup")
    throw std::invalid_argument(fmt::format("step '{}': corrupt 'path' is for what: file or backup", step.name));
  if (what == "backup" && has_path) {
    const std::filesystem::path path(step.param_text("path"));
    const auto normal = path.lexically_normal();
    if (path.is_absolute() || normal.empty() || *normal.begin() == "..")
      throw std::invalid_argument(
          fmt::format("step '{}': corrupt 'path' for a backup must lie inside the run's backups/ folder", step.name));
  }
  if (step.params.count("table") && what != "relation")
    throw std::invalid_argument(fmt::format("step '{}': corrupt 'table' is for what: relation", step.name));
  unsigned_param(step, "seed", 1);
  const auto bytes = unsigned_param(step, "bytes", 16);
  if (bytes < 1 || bytes > 4096)
    throw std::invalid_argument(fmt::format("step '{}': corrupt 'bytes' must be from 1 to 4096", step.name));
}

std::unique_ptr<ActiveFault> CorruptInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  const std::string what = step.param_text("what");
  const std::uint64_t seed = unsigned_param(step, "seed", 1);
  const auto bytes = static_cast<std::size_t>(unsigned_param(step, "bytes", 16));
  const std::string& service = step.target;
  Runtime& runtime = context.runtime;
  const StopPlan plan = stop_plan(what);

  const ServiceFacts facts = ask_running_service(runtime, step, what);

  std::string start_journal_id;
  bool stopped = false;
  if (!plan.signal.empty() && runtime.is_running(service)) {
    start_journal_id = context.journal_inverse({{"type", "start"}, {"service", service}});
    const bool killed = stop_gracefully(runtime, service, plan.signal, grace_of(step));
    stopped = true;
    context.events.record("fault.corrupt.stopped_service", {{"service", service},
                                                            {"what", what},
                                                            {"signal", killed ? "KILL" : plan.signal},
                                                            {"why", plan.reason}});
  }
  const auto start_if_stopped = [&] {
    if (!stopped) return;
    if (!runtime.is_running(service)) process_control(runtime).start_again(service);
    context.mark_reverted(start_journal_id);
    context.events.record("fault.corrupt.started_service", {{"service", service}});
  };

  DamagedFile target;
  std::string corrupt_journal_id;
  std::vector<ByteChange> changes;
  try {
    try {
      target = locate(context, step, what, facts);
      changes = corrupt::read_changes(target.host_path, corrupt::plan_changes(target.regions, seed, bytes));
    } catch (const std::runtime_error& error) {
      // A host path alone does not say which of the service's files the step meant.
      const std::string file = !target.file.empty() ? target.file : what == "file" ? step.param_text("path") : "";
      if (file.empty() || std::string_view(error.what()).find(file) != std::string_view::npos) throw;
      const std::string message = fmt::format("{} of '{}': {}", file, service, error.what());
      if (dynamic_cast<const EnvironmentError*>(&error) != nullptr) throw EnvironmentError(message);
      throw std::runtime_error(message);
    }
    corrupt_journal_id = context.journal_inverse({{"type", "corrupt"},
                                                  {"service", service},
                                                  {"file", target.file},
                                                  {"host_path", target.host_path.shown().string()},
                                                  {"host_root", target.host_path.root.string()},
                                                  {"host_inside", target.host_path.inside.string()},
                                                  {"changes", corrupt::to_json(changes)},
                                                  {"start_service", stopped}});
    corrupt::write_changes(target.host_path, changes);
  } catch (...) {
    start_if_stopped();
    throw;
  }

  json description = {{"what", what},       {"file", target.file}, {"seed", seed},
                      {"changes", corrupt::to_json(changes)}, {"stopped_service", stopped}};
  if (!service.empty()) description["service"] = service;
  if (!plan.effect.empty()) description["effect"] = plan.effect;
  context.events.record("fault.corrupt.changed", description);
  start_if_stopped();

  auto undo = [&runtime, &events = context.events, host_path = target.host_path, file = target.file, changes, service,
               stopped] {
    const auto outcome = corrupt::restore(host_path, changes);
    events.record("fault.corrupt.reverted", {{"file", file}, {"outcome", corrupt::to_string(outcome)}});
    if (stopped && outcome != corrupt::RestoreOutcome::missing && !runtime.is_running(service))
      process_control(runtime).start_again(service);
  };
  return std::make_unique<JournalledFault>(context, corrupt_journal_id, std::move(undo), std::move(description));
}

}  // namespace firedrill
