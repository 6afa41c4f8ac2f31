// Where each `what` of `corrupt` finds its file, and the bytes of it that may change (the
// comment atop corrupt.cpp says why those files and bytes): Postgres and Redis asked through
// psql and redis-cli in their containers, pg_control, the AOF manifest and the backup
// repository read on this machine.
#include "injectors/corrupt_target.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "clients/workload/implied_contracts.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;

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

}  // namespace

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

}  // namespace firedrill
