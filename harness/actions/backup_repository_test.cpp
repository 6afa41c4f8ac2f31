#include "harness/actions/backup_repository.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "harness/engine/clock.hpp"
#include "harness/engine/journal.hpp"
#include "harness/runtime/cleanup.hpp"

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
  encrypt_file(plain, sealed, key);
  EXPECT_EQ(std::filesystem::file_size(sealed), data.size() + 12 + 16);
  EXPECT_EQ(read(sealed).find(data.substr(1000, 64)), std::string::npos);
  decrypt_file(sealed, directory_ / "back", key);
  EXPECT_EQ(read(directory_ / "back"), data);

  encrypt_file(plain, directory_ / "again.enc", key);
  EXPECT_NE(read(directory_ / "again.enc").substr(0, 12), read(sealed).substr(0, 12)) << "nonces must differ";

  const auto other = EncryptionKey::load(write("b.key", std::string(64, 'b')));
  EXPECT_NE(failure_of([&] { decrypt_file(sealed, directory_ / "wrong", other); }).find("GCM tag mismatch"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(directory_ / "wrong")) << "no plaintext may be left behind";

  std::string altered = read(sealed);
  altered[5000] = static_cast<char>(altered[5000] ^ 0x40);
  const auto tampered = write("tampered.enc", altered);
  EXPECT_NE(failure_of([&] { decrypt_file(tampered, directory_ / "t", key); }).find("tampered.enc: AES-256-GCM authentication failed"),
            std::string::npos);
  const auto truncated = write("truncated.enc", read(sealed).substr(0, 20));
  EXPECT_NE(failure_of([&] { decrypt_file(truncated, directory_ / "t", key); }).find("truncated"), std::string::npos);
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
  nlohmann::json manifest = {{"method", "pgbackrest"},
                             {"files_root", "pgbackrest/db"},
                             {"files", {{{"name", "backup/db/20261125-200440F/backup.manifest"},
                                         {"bytes", 3},
                                         {"sha256", file_sha256(set / "backup.manifest")}}}}};
  std::ofstream(folder / "manifest.json") << manifest.dump();
  SteadyAnchoredClock clock;
  nlohmann::json phases;
  {
    const StagedBackup staged(folder, "", clock, phases);
    EXPECT_EQ(staged.files().at("backup/db/20261125-200440F/backup.manifest"), set / "backup.manifest");
  }
  std::ofstream(set / "backup.manifest") << "changed";
  EXPECT_THROW(StagedBackup(folder, "", clock, phases), ActionFailed);

  manifest["files_root"] = "../elsewhere";
  std::ofstream(folder / "manifest.json", std::ios::trunc) << manifest.dump();
  try {
    StagedBackup staged(folder, "", clock, phases);
    ADD_FAILURE() << "a files_root outside the repository was accepted";
  } catch (const ActionFailed& error) {
    EXPECT_NE(std::string(error.what()).find("invalid files_root '../elsewhere'"), std::string::npos) << error.what();
  }
  manifest["files_root"] = "pgbackrest/db";
  manifest["files"][0]["name"] = "backup/../../../secret";
  std::ofstream(folder / "manifest.json", std::ios::trunc) << manifest.dump();
  EXPECT_THROW(StagedBackup(folder, "", clock, phases), ActionFailed);
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
  encrypt_file(write("db.dump", plaintext), folder / "db.dump.enc", key);
  const nlohmann::json manifest = {{"encryption", aes_256_gcm},
                                   {"key_id", key.id},
                                   {"files", {{{"name", "db.dump.enc"},
                                               {"bytes", std::filesystem::file_size(folder / "db.dump.enc")},
                                               {"sha256", file_sha256(folder / "db.dump.enc")}}}}};
  std::ofstream(folder / "manifest.json") << manifest.dump();

  // The name the old code would have used, prepared by someone else: never used now.
  const auto predictable = std::filesystem::temp_directory_path() / fmt::format("fd-staging-{}-{}", folder.filename().string(), ::getpid());
  std::filesystem::create_directories(predictable);

  std::vector<std::pair<std::string, std::string>> journalled;
  std::filesystem::path staging;
  nlohmann::json phases;
  {
    StagedBackup staged(folder, key_file.string(), real_clock(), phases, [&](const std::string& kind, const std::string& name) {
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
  release_journalled_resources(dead, report);
  EXPECT_FALSE(std::filesystem::exists(staging));
  EXPECT_TRUE(std::filesystem::exists(directory_)) << "cleanup removed a directory that is no staging directory";
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("not a staging directory"), std::string::npos) << report.errors[0];
}

}  // namespace
}  // namespace firedrill
