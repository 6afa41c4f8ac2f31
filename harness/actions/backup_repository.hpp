#pragma once
// What `backup`, `verify-backup` and `restore` share: where backups live, their manifest, the
// key file and AES-256-GCM file encryption. A backup is the folder <repository>/<backup-id>/
// holding its files and manifest.json.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/actions/action.hpp"

namespace firedrill {

/// The backup repository of a step: its `repository` parameter (a host directory, e.g. a mounted
/// bucket) or <run directory>/backups.
std::filesystem::path backup_repository(const ActionContext& context, const StepSpec& step);

/// A new backup id for a service, sortable by time: <UTC yyyymmddThhmmss.mmmZ>-<service>.
std::string new_backup_id(const std::string& service, Micros now);

/// The folder of backup `id` in the repository; `latest` is the newest backup of `service` (by its
/// id, whatever state its manifest is in), refused when it is older than a backup this run wrote
/// there (see refuse_rolled_back).
/// Throws ActionFailed when there is none.
std::filesystem::path find_backup(const std::filesystem::path& repository, const std::string& id,
                                  const std::string& service, const std::vector<Event>& history = {});

/// The newest backup of `service` this run wrote into `repository` whose method `counts`, from its
/// backup.finished events: a record kept outside the repository, which the system under test may
/// be able to write.
struct WrittenBackup {
  std::string id;
  std::string method;
  std::string manifest_sha256;
};
std::optional<WrittenBackup> newest_written_backup(const std::vector<Event>& history,
                                                   const std::filesystem::path& repository, const std::string& service,
                                                   const std::function<bool(const std::string& method)>& counts);

/// Throws ActionFailed when `folder`, the answer to "latest", is older than the newest backup this
/// run wrote there (someone removed or hid the newer sets: a rollback), or is that backup with
/// another manifest.
void refuse_rolled_back(const std::filesystem::path& folder, const std::optional<WrittenBackup>& written);

/// Where the files a backup's manifest names are: the backup's folder, or, when the manifest has
/// `files_root` (a path relative to the repository, as for a pgbackrest set whose files stay in
/// pgbackrest's own repository), that folder. Throws ActionFailed for a files_root outside the
/// repository.
std::filesystem::path backup_files_folder(const std::filesystem::path& folder, const nlohmann::json& manifest);

/// A 256-bit key read from a key file (32 raw bytes or 64 hex digits). The file must not be
/// readable or writable by group or others.
struct EncryptionKey {
  std::vector<unsigned char> bytes;
  std::string id;  // first 16 hex digits of the key's SHA-256: names the key, reveals nothing

  EncryptionKey() = default;
  EncryptionKey(const EncryptionKey&) = default;
  EncryptionKey(EncryptionKey&&) = default;
  EncryptionKey& operator=(const EncryptionKey&) = default;
  EncryptionKey& operator=(EncryptionKey&&) = default;
  /// Wipes the key's bytes.
  ~EncryptionKey();

  /// Throws ActionFailed naming the file when it is missing, too open (not 0600/0400) or not a key.
  static EncryptionKey load(const std::filesystem::path& key_file);
};

/// The manifest's `encryption` value for files written by encrypt_file().
inline constexpr const char* aes_256_gcm = "aes-256-gcm";

/// What a sealed file of a backup is bound to (AES-GCM's associated data): its set and its name,
/// so that no file decrypts under another name or in another set.
std::string sealed_file_context(const std::string& backup_id, const std::string& sealed_name);

/// Encrypts `plain` into `sealed` as nonce(12) || ciphertext || tag(16), a fresh random nonce each
/// time, authenticating `associated` with it. Throws ActionFailed.
void encrypt_file(const std::filesystem::path& plain, const std::filesystem::path& sealed, const EncryptionKey& key,
                  const std::string& associated);

/// Decrypts what encrypt_file wrote with the same `associated` data. Throws ActionFailed with the
/// reason (too short, GCM tag mismatch: wrong key, altered bytes, or a file moved from another
/// name or set); no plaintext is left behind when it fails.
void decrypt_file(const std::filesystem::path& sealed, const std::filesystem::path& plain, const EncryptionKey& key,
                  const std::string& associated);

/// The manifest format written and accepted; v1 manifests had no MAC and are refused.
inline constexpr const char* backup_manifest_schema = "firedrill/backup-manifest/v2";

/// The key of a manifest's HMAC-SHA256. An encrypted backup's is derived from its encryption key
/// (HKDF-SHA256 with a label of its own, so it travels with the key); an unencrypted backup's is
/// the manifest key of the machine, a file outside every repository (in firedrill's state
/// directory) that no container mounts.
struct ManifestKey {
  std::vector<unsigned char> bytes;
  std::string id;  // first 16 hex digits of the key's SHA-256

  ManifestKey() = default;
  ManifestKey(const ManifestKey&) = default;
  ManifestKey(ManifestKey&&) = default;
  ManifestKey& operator=(const ManifestKey&) = default;
  ManifestKey& operator=(ManifestKey&&) = default;
  /// Wipes the key's bytes.
  ~ManifestKey();

  static ManifestKey derived_from(const EncryptionKey& key);
  /// The machine's key in `key_file`, created (32 random bytes as hex, 0600, exclusively) when
  /// `create` and there is none. Throws ActionFailed when it is missing or too open.
  static ManifestKey of_machine(const std::filesystem::path& key_file, bool create);
};

/// The manifest with its `mac_key_id` and `hmac_sha256` (over the canonical bytes of everything
/// else) set.
nlohmann::json seal_manifest(nlohmann::json manifest, const ManifestKey& key);

/// Throws ActionFailed, saying why, unless `manifest` is a v2 manifest whose HMAC `key` made and
/// whose backup_id is `backup_id` (a set moved into another set's folder is not that set).
void authenticate_manifest(const nlohmann::json& manifest, const ManifestKey& key, const std::string& backup_id);

/// Journals a resource about to hold something (kind, name), as the runtime's BeforeCreate does.
using JournalCreate = std::function<void(const std::string& kind, const std::string& name)>;

/// A backup made ready to restore: its manifest authenticated, every file checked against it (size
/// and SHA-256) and,
/// when encrypted, decrypted into a private staging directory that goes away with this object.
/// Throws ActionFailed naming the file and why (missing, truncated, sha256 mismatch, GCM tag
/// mismatch, wrong or missing key). Adds checksum_seconds (and decrypt_seconds) to `phases`.
class StagedBackup {
 public:
  /// The manifest is authenticated first (see authenticate_manifest): with the key derived from
  /// `key_file` when the backup is encrypted, else with the machine's `manifest_key_file`.
  /// `journal` (when set) records the staging directory as a resource of kind staging_kind once
  /// it exists, so `firedrill cleanup` removes the plaintext when the harness dies holding it.
  StagedBackup(const std::filesystem::path& folder, const std::string& key_file,
               const std::filesystem::path& manifest_key_file, const Clock& clock, nlohmann::json& phases,
               const JournalCreate& journal = {});
  StagedBackup(const StagedBackup&) = delete;
  StagedBackup& operator=(const StagedBackup&) = delete;
  ~StagedBackup();

  const nlohmann::json& manifest() const { return manifest_; }
  /// Plain file name (without .enc) -> a readable plaintext copy.
  const std::map<std::string, std::filesystem::path>& files() const { return files_; }

 private:
  nlohmann::json manifest_;
  std::filesystem::path staging_;
  std::map<std::string, std::filesystem::path> files_;
};

/// Lowercase hex SHA-256 of a file's bytes.
std::string file_sha256(const std::filesystem::path& file);

/// RFC 3339 UTC with microseconds, as events.jsonl writes times.
std::string rfc3339(Micros t);

/// The Postgres user and database of a libpq conninfo string.
struct PostgresLogin {
  std::string user;
  std::string database;
};
PostgresLogin postgres_login(const std::string& conninfo);

/// One row per user table: its qualified name and its exact row count (as text), in one statement
/// so that every count sees the same snapshot.
inline constexpr const char* postgres_row_count_query =
    "SELECT format('%I.%I', n.nspname, c.relname), "
    "(xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), "
    "false, true, '')))[1]::text "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1";

/// Output of an exec that must succeed; throws ActionFailed with `what` and its last lines.
std::string exec_checked(Runtime& runtime, const std::string& service, const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout, const std::string& what);

/// Exact row count per user table of a database in the service's container (psql over its Unix
/// socket), keyed like the manifest's row_counts ("schema.table").
nlohmann::json postgres_row_counts(Runtime& runtime, const std::string& service, const std::string& user,
                                   const std::string& database, std::chrono::milliseconds timeout);

/// Where the differences between expected and actual row counts are, one phrase per table;
/// empty when every expected table has its count.
std::vector<std::string> row_count_differences(const nlohmann::json& expected, const nlohmann::json& actual);

/// The `key:value` lines of a Redis INFO reply.
std::map<std::string, std::string> parse_redis_info(const std::string& reply);

/// How long an action of this step may take: its `timeout`, else `fallback`.
std::chrono::milliseconds step_timeout(const StepSpec& step, std::chrono::milliseconds fallback);

/// Time left before a deadline on the action's clock, at least 1 ms (a bound for the next exec).
std::chrono::milliseconds time_left(const Clock& clock, Micros deadline);

/// The text without the line breaks and spaces a command's output ends with.
std::string without_trailing_newlines(std::string text);

/// The reply of `redis-cli command...` run in the service's container, which must succeed by
/// `deadline` (ActionFailed otherwise), without its trailing line break.
std::string redis_cli(ActionContext& context, const std::string& service, std::vector<std::string> command, Micros deadline);

}  // namespace firedrill
