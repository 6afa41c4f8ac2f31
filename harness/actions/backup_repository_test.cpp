#include "harness/actions/backup_repository.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "harness/actions/restore_basebackup.hpp"
#include "harness/engine/run_cleanup.hpp"
#include "harness/runtime/journal.hpp"

namespace firedrill {
namespace {

class BackupRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() / fmt::format("fd-backup-repository-test-{}", getpid());
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  std::filesystem::path write(const std::string& name, const std::string& bytes, mode_t mode = 0600) {
    const auto file = directory_ / name;
    std::ofstream(file, std::ios::binary) << bytes;
    ::chmod(file.c_str(), mode);
    return file;
  }
  std::string read(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  std::string failure_of(const std::function<void()>& action) {
    try {
      action();
    } catch (const ActionFailed& failure) {
      return failure.what();
    }
    return "";
  }

  std::filesystem::path directory_;
};

TEST_F(BackupRepositoryTest, KeyFilesMustBePrivateAndHoldAKey) {
  const auto open = write("open.key", std::string(64, 'a'), 0644);
  EXPECT_EQ(failure_of([&] { EncryptionKey::load(open); }),
            fmt::format("encryption key file {} has mode 0644: it must be readable by its owner only (chmod 600 {})",
                        open.string(), open.string()));
  const auto short_key = write("short.key", "abc");
  EXPECT_NE(failure_of([&] { EncryptionKey::load(short_key); }).find("32 bytes or 64 hex digits"), std::string::npos);
  const auto hex = EncryptionKey::load(write("hex.key", std::string(64, 'a') + "\n"));
  const auto raw = EncryptionKey::load(write("raw.key", std::string(32, '\xaa')));
  EXPECT_EQ(hex.bytes, raw.bytes);
  EXPECT_EQ(hex.id, raw.id);
  EXPECT_EQ(hex.id.size(), 16u);
}

TEST_F(BackupRepositoryTest, EncryptionRoundTripsAndDetectsTamperingTruncationAndTheWrongKey) {
  std::string data;
  for (int i = 0; i < 300000; ++i) data += static_cast<char>(i * 7);
  const auto plain = write("data", data);
  const auto key = EncryptionKey::load(write("a.key", std::string(64, 'a')));
  const auto sealed = directory_ / "data.enc";
  encrypt_file(plain, sealed, key, "set/data.enc");
  EXPECT_EQ(std::filesystem::file_size(sealed), data.size() + 12 + 16);
  EXPECT_EQ(read(sealed).find(data.substr(1000, 64)), std::string::npos);
  decrypt_file(sealed, directory_ / "back", key, "set/data.enc");
  EXPECT_EQ(read(directory_ / "back"), data);

  encrypt_file(plain, directory_ / "again.enc", key, "set/data.enc");
  EXPECT_NE(read(directory_ / "again.enc").substr(0, 12), read(sealed).substr(0, 12)) << "nonces must differ";

  const auto other = EncryptionKey::load(write("b.key", std::string(64, 'b')));
  EXPECT_NE(failure_of([&] { decrypt_file(sealed, directory_ / "wrong", other, "set/data.enc"); }).find("GCM tag mismatch"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(directory_ / "wrong")) << "no plaintext may be left behind";

  std::string altered = read(sealed);
  altered[5000] = static_cast<char>(altered[5000] ^ 0x40);
  const auto tampered = write("tampered.enc", altered);
  EXPECT_NE(failure_of([&] { decrypt_file(tampered, directory_ / "t", key, "set/data.enc"); }).find("tampered.enc: AES-256-GCM authentication failed"),
            std::string::npos);
  const auto truncated = write("truncated.enc", read(sealed).substr(0, 20));
  EXPECT_NE(failure_of([&] { decrypt_file(truncated, directory_ / "t", key, "set/data.enc"); }).find("truncated"), std::string::npos);
}

TEST_F(BackupRepositoryTest, LatestIsTheNewestBackupOfThatServiceByItsId) {
  for (const char* id : {"20261125T100000.000Z-db", "20261125T110000.000Z-db", "20261125T120000.000Z-app-db",
                         "20261125T130000.000Z-db"}) {
    std::filesystem::create_directories(directory_ / id);
    write(std::string(id) + "/manifest.json", "{}");
  }
  std::filesystem::create_directories(directory_ / "20261125T140000.000Z-db");  // no manifest: unfinished
  EXPECT_EQ(find_backup(directory_, "latest", "db").filename(), "20261125T130000.000Z-db");
  EXPECT_EQ(find_backup(directory_, "latest", "app-db").filename(), "20261125T120000.000Z-app-db");
  EXPECT_NE(failure_of([&] { find_backup(directory_, "latest", "cache"); }).find("no backup of 'cache'"), std::string::npos);
  EXPECT_NE(failure_of([&] { find_backup(directory_, "../etc", "db"); }).find("is not a backup id"), std::string::npos);
  EXPECT_EQ(new_backup_id("db", 1795620610123456), "20261125T153010.123Z-db");
}

TEST_F(BackupRepositoryTest, FilesRootPointsAtFilesKeptInPlaceAndCannotLeaveTheRepository) {
  const auto set = directory_ / "pgbackrest" / "db" / "backup" / "db" / "20261125-200440F";
  std::filesystem::create_directories(set);
  std::ofstream(set / "backup.manifest") << "set";
  const auto folder = directory_ / "20261125T200438.616Z-db";
  std::filesystem::create_directories(folder);
  const auto machine_key_file = directory_ / "state" / "backup-manifest.key";
  const auto machine_key = ManifestKey::of_machine(machine_key_file, true);
  nlohmann::json manifest = {{"backup_id", "20261125T200438.616Z-db"},
                             {"method", "pgbackrest"},
                             {"files_root", "pgbackrest/db"},
                             {"files", {{{"name", "backup/db/20261125-200440F/backup.manifest"},
                                         {"bytes", 3},
                                         {"sha256", file_sha256(set / "backup.manifest")}}}}};
  std::ofstream(folder / "manifest.json") << seal_manifest(manifest, machine_key).dump();
  SteadyAnchoredClock clock;
  nlohmann::json phases;
  {
    const StagedBackup staged(folder, "", machine_key_file, clock, phases);
    EXPECT_EQ(staged.files().at("backup/db/20261125-200440F/backup.manifest"), set / "backup.manifest");
  }
  std::ofstream(set / "backup.manifest") << "changed";
  EXPECT_THROW(StagedBackup(folder, "", machine_key_file, clock, phases), ActionFailed);

  // Even manifests firedrill authenticated are held to these bounds.
  manifest["files_root"] = "../elsewhere";
  std::ofstream(folder / "manifest.json", std::ios::trunc) << seal_manifest(manifest, machine_key).dump();
  try {
    StagedBackup staged(folder, "", machine_key_file, clock, phases);
    ADD_FAILURE() << "a files_root outside the repository was accepted";
  } catch (const ActionFailed& error) {
    EXPECT_NE(std::string(error.what()).find("invalid files_root '../elsewhere'"), std::string::npos) << error.what();
  }
  manifest["files_root"] = "pgbackrest/db";
  manifest["files"][0]["name"] = "backup/../../../secret";
  std::ofstream(folder / "manifest.json", std::ios::trunc) << seal_manifest(manifest, machine_key).dump();
  EXPECT_THROW(StagedBackup(folder, "", machine_key_file, clock, phases), ActionFailed);
}

TEST_F(BackupRepositoryTest, RedisInfoLinesAreParsed) {
  const auto fields = parse_redis_info("# Persistence\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\n\r\n");
  EXPECT_EQ(fields.at("rdb_bgsave_in_progress"), "0");
  EXPECT_EQ(fields.at("rdb_last_bgsave_status"), "ok");
}

// Security review 2, H3: decrypted backups were staged in /tmp/fd-staging-<id>-<pid>, a name
// another user could predict and prepare; nothing removed it after a kill -9.
TEST_F(BackupRepositoryTest, DecryptedFilesAreStagedInAFreshPrivateJournalledDirectoryThatCleanupRemoves) {
  const auto key_file = write("k.key", std::string(64, 'c'));
  const auto key = EncryptionKey::load(key_file);
  const auto folder = directory_ / "20261201T214547.123Z-db";
  std::filesystem::create_directories(folder);
  const std::string plaintext = "the orders table, decrypted";
  encrypt_file(write("db.dump", plaintext), folder / "db.dump.enc", key,
               sealed_file_context("20261201T214547.123Z-db", "db.dump.enc"));
  const nlohmann::json manifest = {{"backup_id", "20261201T214547.123Z-db"},
                                   {"encryption", aes_256_gcm},
                                   {"key_id", key.id},
                                   {"files", {{{"name", "db.dump.enc"},
                                               {"bytes", std::filesystem::file_size(folder / "db.dump.enc")},
                                               {"sha256", file_sha256(folder / "db.dump.enc")}}}}};
  std::ofstream(folder / "manifest.json") << seal_manifest(manifest, ManifestKey::derived_from(key)).dump();

  // The name the old code would have used, prepared by someone else: never used now.
  const auto predictable = std::filesystem::temp_directory_path() / fmt::format("fd-staging-{}-{}", folder.filename().string(), ::getpid());
  std::filesystem::create_directories(predictable);

  std::vector<std::pair<std::string, std::string>> journalled;
  std::filesystem::path staging;
  nlohmann::json phases;
  {
    StagedBackup staged(folder, key_file.string(), "", real_clock(), phases, [&](const std::string& kind, const std::string& name) {
      // Journalled before any plaintext is written into it.
      EXPECT_TRUE(std::filesystem::is_empty(name)) << name;
      journalled.emplace_back(kind, name);
    });
    ASSERT_EQ(staged.files().count("db.dump"), 1u);
    staging = staged.files().at("db.dump").parent_path();
    EXPECT_NE(staging, predictable);
    EXPECT_TRUE(is_staging_directory(staging)) << staging;
    struct stat status {};
    ASSERT_EQ(::stat(staging.c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 0777, 0700u);
    EXPECT_EQ(read(staged.files().at("db.dump")), plaintext);
    EXPECT_EQ(journalled, (std::vector<std::pair<std::string, std::string>>{{staging_kind, staging.string()}}));
  }
  EXPECT_FALSE(std::filesystem::exists(staging)) << "the plaintext outlived its use";
  std::filesystem::remove_all(predictable);

  // A harness killed while holding it: cleanup removes what the journal names, and only a
  // staging directory of this machine's temporary directory.
  std::filesystem::create_directories(staging);
  std::ofstream(staging / "db.dump") << plaintext;
  JournalState dead;
  dead.run_id = "20261201-214547-a3f9";
  dead.created = {{staging_kind, staging.string()}, {staging_kind, directory_.string()}};
  CleanupReport report;
  release_journalled_files(dead, report);
  EXPECT_FALSE(std::filesystem::exists(staging));
  EXPECT_TRUE(std::filesystem::exists(directory_)) << "cleanup removed a directory that is no staging directory";
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("not a staging directory"), std::string::npos) << report.errors[0];
}

/// A finished set as `backup` leaves it: one file and a manifest sealed with `key`.
nlohmann::json make_set(const std::filesystem::path& repository, const std::string& id, const std::string& method,
                        const ManifestKey& key, const std::string& content = "dump bytes") {
  const auto folder = repository / id;
  std::filesystem::create_directories(folder);
  std::ofstream(folder / "db.dump", std::ios::binary) << content;
  nlohmann::json manifest = {{"backup_id", id},
                             {"service", "db"},
                             {"kind", "postgres"},
                             {"method", method},
                             {"image", "firedrill/postgres:15"},
                             {"files", {{{"name", "db.dump"}, {"bytes", content.size()}, {"sha256", file_sha256(folder / "db.dump")}}}},
                             {"postgres", {{"user", "postgres"}, {"database", "postgres"}, {"wal_archive", "wal/db"},
                                           {"row_counts", {{"public.orders", 1000}}}}}};
  manifest = seal_manifest(manifest, key);
  std::ofstream(folder / "manifest.json", std::ios::trunc) << manifest.dump(2);
  return manifest;
}

Event written(const std::filesystem::path& repository, const std::string& id, const std::string& method) {
  return Event{0, "backup.finished", {{"backup_id", id}, {"service", "db"}, {"method", method},
                                      {"repository", repository.string()},
                                      {"manifest_sha256", file_sha256(repository / id / "manifest.json")}}};
}

// Security review 2, M9: the system under test can write the repository (it is mounted into the
// database's container), and manifests were unauthenticated, so a changed "image" chose the
// scratch container verify-backup ran and a changed "wal_archive" reached a shell script.
TEST_F(BackupRepositoryTest, AManifestChangedInAnyFieldIsRefusedBeforeAnythingInItIsUsed) {
  const auto key_file = directory_ / "state" / "backup-manifest.key";
  const auto key = ManifestKey::of_machine(key_file, true);
  const std::string id = "20261206T160000.000Z-db";
  const auto original = make_set(directory_, id, "pg_dump", key);
  EXPECT_EQ(original["schema"], backup_manifest_schema);
  EXPECT_EQ(original["mac_key_id"], key.id);
  SteadyAnchoredClock clock;
  nlohmann::json phases;
  const auto staging_failure = [&] { return failure_of([&] { StagedBackup(directory_ / id, "", key_file, clock, phases); }); };
  EXPECT_EQ(staging_failure(), "");

  // Re-indented but equal: still the manifest firedrill wrote.
  std::ofstream(directory_ / id / "manifest.json", std::ios::trunc) << original.dump();
  EXPECT_EQ(staging_failure(), "");

  const std::vector<std::pair<nlohmann::json::json_pointer, nlohmann::json>> edits = {
      {"/image"_json_pointer, "firedrill/redis:7"},
      {"/method"_json_pointer, "basebackup"},
      {"/service"_json_pointer, "cache"},
      {"/postgres/wal_archive"_json_pointer, "wal/db'\nFIREDRILL_RECOVERY\ntouch /pwned\n"},
      {"/postgres/row_counts/public.orders"_json_pointer, 1001},
      {"/postgres/user"_json_pointer, "intruder"},
      {"/files/0/name"_json_pointer, "other.dump"},
      {"/files_root"_json_pointer, "pgbackrest/db"},
      {"/mac_key_id"_json_pointer, "0000000000000000"},
      {"/hmac_sha256"_json_pointer, std::string(64, '0')},
  };
  for (const auto& [where, value] : edits) {
    auto edited = original;
    edited[where] = value;
    std::ofstream(directory_ / id / "manifest.json", std::ios::trunc) << edited.dump(2);
    const std::string failure = staging_failure();
    EXPECT_TRUE(failure.find("fails authentication (HMAC-SHA256 mismatch)") != std::string::npos ||
                failure.find("authenticated with manifest key 0000000000000000") != std::string::npos)
        << where.to_string() << ": " << failure;
  }
  auto unsigned_manifest = original;
  unsigned_manifest.erase("hmac_sha256");
  unsigned_manifest["schema"] = "firedrill/backup-manifest/v1";
  std::ofstream(directory_ / id / "manifest.json", std::ios::trunc) << unsigned_manifest.dump(2);
  EXPECT_EQ(staging_failure(),
            "backup 20261206T160000.000Z-db: its manifest is not authenticated (schema firedrill/backup-manifest/v1, "
            "written before firedrill signed manifests): whoever can write the repository could have changed it, so "
            "it is refused; take a new backup");

  // A manifest of another machine (another key) is not this machine's word.
  const auto other_key = ManifestKey::of_machine(directory_ / "other-state" / "backup-manifest.key", true);
  EXPECT_NE(other_key.id, key.id);
  make_set(directory_, id, "pg_dump", other_key);
  EXPECT_NE(staging_failure().find("authenticated with manifest key " + other_key.id + ", not with this one"),
            std::string::npos);

  // A whole authentic set copied over another set's folder.
  make_set(directory_, "20261206T150000.000Z-db", "pg_dump", key, "older bytes");
  std::filesystem::copy(directory_ / "20261206T150000.000Z-db", directory_ / id,
                        std::filesystem::copy_options::overwrite_existing | std::filesystem::copy_options::recursive);
  EXPECT_NE(staging_failure().find("holds the manifest of backup 20261206T150000.000Z-db"), std::string::npos)
      << staging_failure();
}

TEST_F(BackupRepositoryTest, TheMachineManifestKeyIsCreatedOncePrivateAndRefusedWhenOpen) {
  const auto key_file = directory_ / "state" / "backup-manifest.key";
  EXPECT_NE(failure_of([&] { ManifestKey::of_machine(key_file, false); }).find("does not exist"), std::string::npos);
  const auto created = ManifestKey::of_machine(key_file, true);
  struct stat status {};
  ASSERT_EQ(::stat(key_file.c_str(), &status), 0);
  EXPECT_EQ(status.st_mode & 0777, 0600u);
  EXPECT_EQ(ManifestKey::of_machine(key_file, true).bytes, created.bytes) << "a second use made another key";
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(key_file.parent_path()), {}), 1)
      << "a temporary key file was left behind";
  ::chmod(key_file.c_str(), 0644);
  EXPECT_NE(failure_of([&] { ManifestKey::of_machine(key_file, false); }).find("has mode 0644"), std::string::npos);

  // An encrypted backup's manifest key comes from its encryption key, and is not that key.
  const auto encryption = EncryptionKey::load(write("e.key", std::string(64, 'e')));
  const auto derived = ManifestKey::derived_from(encryption);
  EXPECT_EQ(derived.bytes, ManifestKey::derived_from(encryption).bytes);
  EXPECT_NE(derived.bytes, encryption.bytes);
  EXPECT_EQ(derived.bytes.size(), 32u);
}

TEST_F(BackupRepositoryTest, SealedFilesDecryptOnlyUnderTheirOwnNameAndSet) {
  const auto key_file = write("k.key", std::string(64, 'd'));
  const auto key = EncryptionKey::load(key_file);
  const std::string id = "20261206T160000.000Z-db";
  const auto folder = directory_ / id;
  std::filesystem::create_directories(folder);
  encrypt_file(write("base.tar", "base"), folder / "base.tar.enc", key, sealed_file_context(id, "base.tar.enc"));
  encrypt_file(write("pg_wal.tar", "wal"), folder / "pg_wal.tar.enc", key, sealed_file_context(id, "pg_wal.tar.enc"));
  EXPECT_EQ(failure_of([&] {
              decrypt_file(folder / "base.tar.enc", directory_ / "ok", key, sealed_file_context(id, "base.tar.enc"));
            }),
            "");
  EXPECT_NE(failure_of([&] {
              decrypt_file(folder / "base.tar.enc", directory_ / "x", key, sealed_file_context(id, "pg_wal.tar.enc"));
            }).find("GCM tag mismatch"),
            std::string::npos);
  EXPECT_NE(failure_of([&] {
              decrypt_file(folder / "base.tar.enc", directory_ / "x", key,
                           sealed_file_context("20261206T150000.000Z-db", "base.tar.enc"));
            }).find("GCM tag mismatch"),
            std::string::npos);

  // The two files swapped, the manifest's digests swapped with them (as an attacker who could
  // rewrite the manifest would): the manifest's MAC refuses it first, and the GCM tags would too.
  nlohmann::json manifest = {{"backup_id", id}, {"method", "basebackup"}, {"encryption", aes_256_gcm}, {"key_id", key.id},
                             {"files", nlohmann::json::array()}};
  for (const char* name : {"base.tar.enc", "pg_wal.tar.enc"})
    manifest["files"].push_back({{"name", name}, {"bytes", std::filesystem::file_size(folder / name)},
                                 {"sha256", file_sha256(folder / name)}});
  manifest = seal_manifest(manifest, ManifestKey::derived_from(key));
  std::ofstream(folder / "manifest.json") << manifest.dump();
  SteadyAnchoredClock clock;
  nlohmann::json phases;
  EXPECT_EQ(failure_of([&] { StagedBackup(folder, key_file.string(), "", clock, phases); }), "");
  std::filesystem::rename(folder / "base.tar.enc", directory_ / "swap");
  std::filesystem::rename(folder / "pg_wal.tar.enc", folder / "base.tar.enc");
  std::filesystem::rename(directory_ / "swap", folder / "pg_wal.tar.enc");
  std::swap(manifest["files"][0]["sha256"], manifest["files"][1]["sha256"]);
  std::swap(manifest["files"][0]["bytes"], manifest["files"][1]["bytes"]);
  std::ofstream(folder / "manifest.json", std::ios::trunc) << manifest.dump();
  EXPECT_NE(failure_of([&] { StagedBackup(folder, key_file.string(), "", clock, phases); }).find("HMAC-SHA256 mismatch"),
            std::string::npos);
  // Resealed (as only the key's holder could), the swapped files still fail their tags.
  manifest = seal_manifest(manifest, ManifestKey::derived_from(key));
  std::ofstream(folder / "manifest.json", std::ios::trunc) << manifest.dump();
  EXPECT_NE(failure_of([&] { StagedBackup(folder, key_file.string(), "", clock, phases); }).find("GCM tag mismatch"),
            std::string::npos);
}

TEST_F(BackupRepositoryTest, LatestRefusesARepositoryRolledBackBehindWhatThisRunWrote) {
  const auto key = ManifestKey::of_machine(directory_ / "state" / "backup-manifest.key", true);
  const std::string older = "20261206T150000.000Z-db", newer = "20261206T160000.000Z-db";
  make_set(directory_, older, "basebackup", key);
  make_set(directory_, newer, "basebackup", key);
  const std::vector<Event> history = {written(directory_, older, "basebackup"), written(directory_, newer, "basebackup")};
  EXPECT_EQ(find_backup(directory_, "latest", "db", history).filename(), newer);
  EXPECT_EQ(find_base_backup(directory_, "latest", "db", "", history).filename(), newer);

  // The newest set hidden by changing what its manifest says it is: the base-backup lookup skips
  // it, and the record says a newer one was written.
  auto manifest = nlohmann::json::parse(read(directory_ / newer / "manifest.json"));
  manifest["method"] = "pg_dump";
  std::ofstream(directory_ / newer / "manifest.json", std::ios::trunc) << manifest.dump(2);
  EXPECT_NE(failure_of([&] { find_base_backup(directory_, "latest", "db", "", history); }).find("rolled back"),
            std::string::npos);
  // The same manifest file replaced by another authentic one: not the one this run wrote.
  make_set(directory_, newer, "basebackup", key, "other bytes");
  EXPECT_NE(failure_of([&] { find_backup(directory_, "latest", "db", history); }).find("is not the one this run wrote"),
            std::string::npos);

  // The newest set removed: "latest" would be the older one.
  std::filesystem::remove_all(directory_ / newer);
  EXPECT_EQ(failure_of([&] { find_backup(directory_, "latest", "db", history); }),
            fmt::format("the newest backup in {} is {}, but this run wrote {} there: the repository was rolled back (a "
                        "newer set was removed or hidden), so it is not trusted",
                        directory_.string(), older, newer));
  EXPECT_NE(failure_of([&] { find_base_backup(directory_, "latest", "db", "basebackup", history); }).find("rolled back"),
            std::string::npos);
  // Another repository's record, or a run that wrote nothing, does not bind this one.
  const Event elsewhere{0, "backup.finished", {{"backup_id", newer}, {"service", "db"}, {"method", "basebackup"},
                                               {"repository", (directory_ / "elsewhere").string()}}};
  EXPECT_EQ(find_backup(directory_, "latest", "db", {elsewhere}).filename(), older);
  EXPECT_EQ(find_backup(directory_, "latest", "db").filename(), older);
  // Every set removed.
  std::filesystem::remove_all(directory_ / older);
  EXPECT_NE(failure_of([&] { find_backup(directory_, "latest", "db", history); }).find("this run wrote " + newer + " there"),
            std::string::npos);
}

}  // namespace
}  // namespace firedrill
