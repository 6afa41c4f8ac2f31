// Where backups live and how a set is read back: the repository of a step, backup ids, the newest
// set refused when the repository was rolled back under the run, a set's files checked against
// its manifest and staged for a restore; and the small helpers the backup actions share.
#include "harness/actions/backup_repository.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "core/confined_file.hpp"
#include "core/hashing.hpp"
#include "core/host_paths.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/services/service.hpp"

namespace firedrill {

std::filesystem::path backup_repository(const ActionContext& context, const StepSpec& step) {
  return repository_directory(step.param_text("repository"), context.run_directory);
}

std::string new_backup_id(const std::string& service, Micros now) {
  const std::string stamp = format_rfc3339_micros(now);  // 2026-11-25T15:30:12.345678Z
  std::string compact;
  for (char c : stamp.substr(0, 23))
    if (c != '-' && c != ':') compact += c;
  return fmt::format("{}Z-{}", compact, service);
}

std::filesystem::path find_backup(const std::filesystem::path& repository, const std::string& id,
                                  const std::string& service, const std::vector<Event>& history) {
  if (id != "latest") {
    if (id.empty() || id.find('/') != std::string::npos || id == "..")
      throw ActionFailed(fmt::format("'{}' is not a backup id", id));
    const auto folder = repository / id;
    if (!std::filesystem::exists(folder / "manifest.json"))
      throw ActionFailed(fmt::format("no backup '{}' in {} (no manifest.json)", id, repository.string()));
    return folder;
  }
  // By folder name, not by reading manifests: a newest backup whose manifest was damaged must be
  // the one verified (and fail), not silently passed over for an older one.
  const std::string suffix = "Z-" + service;
  std::filesystem::path newest;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(repository, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(suffix) || !std::filesystem::exists(entry.path() / "manifest.json")) continue;
    if (newest.empty() || name > newest.filename().string()) newest = entry.path();
  }
  const auto written = newest_written_backup(history, repository, service, [](const std::string&) { return true; });
  if (newest.empty() && written)
    throw ActionFailed(fmt::format("no backup of '{}' in {}, but this run wrote {} there: the repository was changed "
                                   "under the drill",
                                   service, repository.string(), written->id));
  if (newest.empty())
    throw ActionFailed(fmt::format("no backup of '{}' in {}", service, repository.string()));
  refuse_rolled_back(newest, written);
  return newest;
}

std::optional<WrittenBackup> newest_written_backup(const std::vector<Event>& history,
                                                   const std::filesystem::path& repository, const std::string& service,
                                                   const std::function<bool(const std::string& method)>& counts) {
  std::error_code error;
  const auto canonical_repository = std::filesystem::weakly_canonical(repository, error);
  std::optional<WrittenBackup> newest;
  for (const Event& event : history) {
    if (event.kind != "backup.finished" || event.details.value("service", "") != service) continue;
    const std::string written_to = event.details.value("repository", "");
    if (written_to.empty() || std::filesystem::weakly_canonical(written_to, error) != canonical_repository) continue;
    WrittenBackup backup{event.details.value("backup_id", ""), event.details.value("method", ""),
                         event.details.value("manifest_sha256", "")};
    if (!counts(backup.method)) continue;
    if (!newest || backup.id > newest->id) newest = backup;
  }
  return newest;
}

void refuse_rolled_back(const std::filesystem::path& folder, const std::optional<WrittenBackup>& written) {
  if (!written) return;
  const std::string id = folder.filename().string();
  if (id < written->id)
    throw ActionFailed(fmt::format("the newest backup in {} is {}, but this run wrote {} there: the repository was "
                                   "rolled back (a newer set was removed or hidden), so it is not trusted",
                                   folder.parent_path().string(), id, written->id));
  if (id == written->id && sha256_file(folder / "manifest.json") != written->manifest_sha256)
    throw ActionFailed(fmt::format("backup {}: manifest.json is not the one this run wrote (sha256 {}, written {})", id,
                                   sha256_file(folder / "manifest.json"), written->manifest_sha256));
}

namespace {

/// Whether a relative path from the manifest could leave the folder it is relative to.
bool escapes(const std::filesystem::path& relative) {
  if (relative.empty() || relative.is_absolute()) return true;
  return std::any_of(relative.begin(), relative.end(), [](const auto& part) { return part == ".." || part == "."; });
}

}  // namespace

std::filesystem::path backup_files_folder(const std::filesystem::path& folder, const nlohmann::json& manifest) {
  if (!manifest.contains("files_root")) return folder;
  const std::string root = manifest["files_root"].is_string() ? manifest["files_root"].get<std::string>() : "";
  if (escapes(root))
    throw ActionFailed(fmt::format("backup {}: the manifest names an invalid files_root '{}'", folder.filename().string(), root));
  return folder.parent_path() / root;
}

namespace {

nlohmann::json read_manifest(const std::filesystem::path& folder) {
  std::ifstream in(folder / "manifest.json");
  const auto manifest = nlohmann::json::parse(in, nullptr, false);
  if (!manifest.is_object() || !manifest.contains("files") || !manifest["files"].is_array())
    throw ActionFailed(fmt::format("{}: manifest.json is not a backup manifest", folder.filename().string()));
  return manifest;
}

/// Every file of the manifest is there with its size and digest; throws naming the first that is not.
void check_files(const std::filesystem::path& folder, const nlohmann::json& manifest) {
  const std::string backup_id = folder.filename().string();
  const auto root = backup_files_folder(folder, manifest);
  // Names are plain file names in the backup's folder, or paths below files_root.
  const bool nested = manifest.contains("files_root");
  for (const auto& file : manifest["files"]) {
    const std::string name = file.value("name", "");
    const auto path = root / name;
    if (name.empty() || (!nested && name.find('/') != std::string::npos) || escapes(name))
      throw ActionFailed(fmt::format("backup {}: the manifest names an invalid file '{}'", backup_id, name));
    if (!std::filesystem::is_regular_file(path))
      throw ActionFailed(fmt::format("backup {}: file {} is missing", backup_id, name));
    const auto bytes = std::filesystem::file_size(path);
    const auto expected_bytes = file.value("bytes", std::uint64_t{0});
    if (bytes != expected_bytes)
      throw ActionFailed(fmt::format("backup {}: file {} has {} bytes, the manifest says {}{}", backup_id, name, bytes,
                                     expected_bytes, bytes < expected_bytes ? " (truncated)" : ""));
    const std::string digest = sha256_file(path);
    if (digest != file.value("sha256", ""))
      throw ActionFailed(fmt::format("backup {}: file {}: sha256 mismatch (manifest {}, file {})", backup_id, name,
                                     file.value("sha256", ""), digest));
  }
}

}  // namespace

StagedBackup::StagedBackup(const std::filesystem::path& folder, const std::string& key_file,
                           const std::filesystem::path& manifest_key_file, const Clock& clock, nlohmann::json& phases,
                           const JournalCreate& journal)
    : manifest_(read_manifest(folder)) {
  const std::string backup_id = folder.filename().string();
  // Nothing of the manifest is used before it is authenticated, not even how it says it is encrypted.
  std::optional<EncryptionKey> key;
  if (!key_file.empty()) key = EncryptionKey::load(key_file);
  if (manifest_.contains("encryption")) {
    if (!key)
      throw ActionFailed(fmt::format("backup {} is encrypted (key id {}): give its key file as encrypt_key", backup_id,
                                     manifest_.value("key_id", "?")));
    if (key->id != manifest_.value("key_id", ""))
      throw ActionFailed(fmt::format("backup {} was encrypted with key id {}, not with the key in {} (key id {})", backup_id,
                                     manifest_.value("key_id", "?"), key_file, key->id));
    authenticate_manifest(manifest_, ManifestKey::derived_from(*key), backup_id);
  } else {
    authenticate_manifest(manifest_, ManifestKey::of_machine(manifest_key_file, false), backup_id);
  }
  Micros phase_start = clock.now();
  check_files(folder, manifest_);
  phases["checksum_seconds"] = seconds_between(phase_start, clock.now());
  if (manifest_["files"].empty()) throw ActionFailed(fmt::format("backup {}: the manifest lists no files", backup_id));
  if (!manifest_.contains("encryption")) {
    for (const auto& file : manifest_["files"]) files_[file.value("name", "")] = backup_files_folder(folder, manifest_) / file.value("name", "");
    return;
  }
  if (manifest_.value("encryption", "") != aes_256_gcm)
    throw ActionFailed(fmt::format("backup {}: unknown encryption {}", backup_id, manifest_["encryption"].dump()));
  phase_start = clock.now();
  // mkdtemp makes a new directory, mode 0700, under a name nobody could predict or prepare; a
  // fixed or guessable name could already be another user's directory or hold their symlinks.
  std::string pattern = (std::filesystem::temp_directory_path() / "fd-staging-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw ActionFailed(fmt::format("backup {}: cannot create a staging directory in {}: {}", backup_id,
                                   std::filesystem::temp_directory_path().string(), std::strerror(errno)));
  staging_ = pattern;
  // Journalled as soon as its name exists, before any plaintext is in it.
  if (journal) {
    try {
      journal(staging_kind, staging_.string());
    } catch (...) {
      std::error_code ignored;
      std::filesystem::remove(staging_, ignored);
      throw;
    }
  }
  try {
    for (const auto& file : manifest_["files"]) {
      const std::string name = file.value("name", "");
      if (!is_single_path_component(name))
        throw ActionFailed(fmt::format("backup {}: the manifest lists {}, which is not a file name", backup_id,
                                       file.value("name", nlohmann::json()).dump()));
      const std::string plain = name.ends_with(".enc") ? name.substr(0, name.size() - 4) : name;
      decrypt_file(folder / name, staging_ / plain, *key, sealed_file_context(backup_id, name));
      files_[plain] = staging_ / plain;
    }
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(staging_, ignored);
    throw;
  }
  phases["decrypt_seconds"] = seconds_between(phase_start, clock.now());
}

StagedBackup::~StagedBackup() {
  if (staging_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(staging_, ignored);
}

std::string file_sha256(const std::filesystem::path& file) { return sha256_file(file); }

std::string rfc3339(Micros t) { return format_rfc3339_micros(t); }

PostgresLogin postgres_login(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string reason = error != nullptr ? error : "unparsable";
    PQfreemem(error);
    throw ActionFailed("the service's connection settings cannot be read: " + reason);
  }
  PostgresLogin login;
  for (auto* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    if (std::string(option->keyword) == "user") login.user = option->val;
    if (std::string(option->keyword) == "dbname") login.database = option->val;
  }
  PQconninfoFree(options);
  if (login.user.empty()) login.user = "postgres";
  if (login.database.empty()) login.database = login.user;
  return login;
}

std::string exec_checked(Runtime& runtime, const std::string& service, const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout, const std::string& what) {
  const ExecResult result = runtime.exec(service, argv, timeout);
  if (result.exit_code != 0)
    throw ActionFailed(fmt::format("{} failed in '{}' (exit {}): {}", what, service, result.exit_code,
                                   tail_lines(result.output, 5)));
  return result.output;
}

nlohmann::json postgres_row_counts(Runtime& runtime, const std::string& service, const std::string& user,
                                   const std::string& database, std::chrono::milliseconds timeout) {
  const std::string output =
      exec_checked(runtime, service, {"psql", "-U", user, "-d", database, "-At", "-F", "\t", "-c", postgres_row_count_query},
                   timeout, "counting rows");
  nlohmann::json counts = nlohmann::json::object();
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    counts[line.substr(0, tab)] = std::stoll(line.substr(tab + 1));
  }
  return counts;
}

std::vector<std::string> row_count_differences(const nlohmann::json& expected, const nlohmann::json& actual) {
  std::vector<std::string> differences;
  for (const auto& [table, count] : expected.items()) {
    if (!actual.contains(table))
      differences.push_back(fmt::format("{} is missing", table));
    else if (actual[table] != count)
      differences.push_back(fmt::format("{} has {} rows, {} at backup time", table, actual[table].dump(), count.dump()));
  }
  return differences;
}

std::map<std::string, std::string> parse_redis_info(const std::string& reply) {
  std::map<std::string, std::string> fields;
  std::istringstream lines(reply);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    fields[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return fields;
}

std::chrono::milliseconds step_timeout(const StepSpec& step, std::chrono::milliseconds fallback) {
  return step.timeout ? std::chrono::duration_cast<std::chrono::milliseconds>(*step.timeout) : fallback;
}

std::chrono::milliseconds time_left(const Clock& clock, Micros deadline) {
  return std::max(std::chrono::milliseconds(1), std::chrono::milliseconds((deadline - clock.now()) / 1000));
}

std::string without_trailing_newlines(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string redis_cli(ActionContext& context, const std::string& service, std::vector<std::string> command, Micros deadline) {
  command.insert(command.begin(), "redis-cli");
  return without_trailing_newlines(exec_checked(context.runtime, service, command, time_left(context.clock, deadline), "redis-cli " + command[1]));
}

}  // namespace firedrill
