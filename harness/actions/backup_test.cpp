#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "harness/actions/backup.hpp"
#include "harness/actions/backup_repository.hpp"
#include "harness/actions/restore.hpp"
#include "harness/actions/verify_backup.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/docker/docker_runtime.hpp"
#include "harness/services/postgres.hpp"
#include "harness/services/registry.hpp"
#include "harness/services/service.hpp"
#include "reports/artifacts.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;

bool image_present(const std::string& image) {
  try {
    docker::EngineApi::from_environment().get(fmt::format("/images/{}/json", image));
    return true;
  } catch (const docker::EngineError&) {
    return false;
  }
}

std::string missing_environment() {
  if (!docker::EngineApi::from_environment().ping()) return "no Docker engine answers";
  for (const char* image : {"firedrill/postgres:15", "firedrill/redis:7"})
    if (!image_present(image)) return fmt::format("image {} is missing (fixtures/images/build)", image);
  return "";
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// A run with a Postgres `db` and a Redis `cache`, shared by the tests of this file.
class BackupRun {
 public:
  BackupRun()
      : run_id_(fmt::format("test-backup-{}-{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000)),
        directory_(std::filesystem::temp_directory_path() / run_id_),
        events_((std::filesystem::create_directories(directory_), directory_ / "events.jsonl"), real_clock()) {
    runtime.begin_run(run_id_, "backup-test", Owner::self(),
                      [this](const std::string& kind, const std::string& name) { created_.emplace_back(kind, name); });
    try {
      runtime.create_network();
      for (auto [name, kind] : {std::pair{"db", "postgres"}, std::pair{"cache", "redis"}}) {
        ServiceSpec spec;
        spec.name = name;
        spec.kind = kind;
        // db archives its WAL into the repository, which is therefore mounted into its container,
        // as in a point-in-time recovery drill: the system under test can write the repository.
        if (spec.kind == "postgres") spec.env[wal_archive_repository_env] = (directory_ / "backups").string();
        services_[name] = make_service(spec);
        const auto info = runtime.start(services_[name]->container_spec([](const std::string& value) { return value; }));
        services_[name]->wait_ready(runtime, info, 90s);
      }
    } catch (...) {
      cleanup_docker(run_id_, false);
      throw;
    }
  }
  BackupRun(const BackupRun&) = delete;
  BackupRun& operator=(const BackupRun&) = delete;
  ~BackupRun() {
    try {
      cleanup_docker(run_id_, false);
    } catch (const std::exception& error) {
      ADD_FAILURE() << "cleanup of " << run_id_ << " failed: " << error.what();
    }
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

  ActionContext context() {
    ActionContext context{runtime, events_, real_clock(), directory_, [this](const std::string& name) -> const Service* {
                            auto found = services_.find(name);
                            return found == services_.end() ? nullptr : found->second.get();
                          }};
    context.manifest_key_file = manifest_key_file();
    return context;
  }
  std::filesystem::path manifest_key_file() const { return directory_ / "state" / "backup-manifest.key"; }
  std::string conninfo() { return services_.at("db")->harness_conninfo(runtime.inspect("db")); }
  const std::filesystem::path& directory() const { return directory_; }
  std::string events_text() const { return read_text(directory_ / "events.jsonl"); }
  /// What the runtime created for the run so far: (kind, name), in order.
  const std::vector<std::pair<std::string, std::string>>& created() const { return created_; }

  DockerRuntime runtime;

 private:
  std::string run_id_;
  std::filesystem::path directory_;
  EventLog events_;
  std::map<std::string, std::unique_ptr<Service>> services_;
  std::vector<std::pair<std::string, std::string>> created_;
};

StepSpec action_step(const std::string& action, const std::string& target, std::map<std::string, std::string> params = {}) {
  StepSpec step;
  step.name = action + " " + target;
  step.verb = StepVerb::action;
  step.what = action;
  step.target = target;
  for (auto& [name, text] : params) step.params[name] = ParamValue{text, {}, false, std::nullopt, std::nullopt, {}};
  return step;
}

nlohmann::json read_manifest(const std::filesystem::path& folder) {
  return nlohmann::json::parse(read_text(folder / "manifest.json"));
}

/// The message verify-backup fails with, or "" when it passed.
std::string verify_failure(BackupRun& run, std::map<std::string, std::string> params, const std::string& target = "db") {
  auto context = run.context();
  try {
    VerifyBackupAction().run(context, action_step("verify-backup", target, std::move(params)));
  } catch (const ActionFailed& failure) {
    return failure.what();
  }
  return "";
}

void flip_byte(const std::filesystem::path& file, std::uint64_t at) {
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(static_cast<std::streamoff>(at));
  char byte = 0;
  io.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x01);
  io.seekp(static_cast<std::streamoff>(at));
  io.write(&byte, 1);
}

std::filesystem::path write_key(const std::filesystem::path& directory, const std::string& name, mode_t mode) {
  const auto file = directory / name;
  std::ofstream(file) << std::string(64, name == "other.key" ? 'b' : 'a') << "\n";
  ::chmod(file.c_str(), mode);
  return file;
}

class BackupTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (const auto why = missing_environment(); !why.empty()) {
      skip_reason_ = new std::string(why);
      return;
    }
    run_ = new BackupRun();
    pqxx::connection connection(run_->conninfo());
    pqxx::work work(connection);
    work.exec("CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL)");
    work.exec("INSERT INTO orders (item) SELECT 'item-' || n FROM generate_series(1, 1000) n");
    work.exec("CREATE TABLE audit (id int PRIMARY KEY)");
    work.exec("INSERT INTO audit SELECT generate_series(1, 37)");
    work.commit();
    std::vector<std::string> mset = {"redis-cli", "MSET"};
    for (int i = 0; i < 200; ++i) {
      mset.push_back(fmt::format("key:{}", i));
      mset.push_back(fmt::format("value-{}", i));
    }
    ASSERT_EQ(run_->runtime.exec("cache", mset, 10s).exit_code, 0);
  }
  static void TearDownTestSuite() {
    delete run_;
    run_ = nullptr;
  }
  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
  }

  nlohmann::json backup(std::map<std::string, std::string> params = {}, const std::string& target = "db") {
    auto context = run_->context();
    return BackupAction().run(context, action_step("backup", target, std::move(params)));
  }

  static BackupRun* run_;
  static std::string* skip_reason_;
};

BackupRun* BackupTest::run_ = nullptr;
std::string* BackupTest::skip_reason_ = nullptr;

TEST_F(BackupTest, PgDumpManifestMatchesTheFilesAndTheBackupVerifies) {
  const auto details = backup();
  const std::filesystem::path folder = details.at("path").get<std::string>();
  EXPECT_EQ(folder.parent_path(), run_->directory() / "backups");
  const auto manifest = read_manifest(folder);
  EXPECT_EQ(manifest["method"], "pg_dump");
  EXPECT_EQ(manifest["service"], "db");
  ASSERT_EQ(manifest["files"].size(), 1u);
  for (const auto& file : manifest["files"]) {
    const auto path = folder / file["name"].get<std::string>();
    EXPECT_EQ(file["sha256"], sha256_file(path));
    EXPECT_EQ(file["bytes"], std::filesystem::file_size(path));
  }
  EXPECT_EQ(read_text(folder / "postgres.dump").substr(0, 5), "PGDMP");
  EXPECT_EQ(manifest["postgres"]["row_counts"]["public.orders"], 1000);
  EXPECT_EQ(manifest["postgres"]["row_counts"]["public.audit"], 37);
  EXPECT_FALSE(manifest["postgres"]["lsn_start"].get<std::string>().empty());
  EXPECT_FALSE(manifest["postgres"]["lsn_end"].get<std::string>().empty());
  EXPECT_NE(manifest["tools"]["pg_dump"].get<std::string>().find("PostgreSQL"), std::string::npos);
  EXPECT_TRUE(manifest["started_at"].get<std::string>().ends_with("Z"));
  EXPECT_LE(manifest["started_at"].get<std::string>(), manifest["finished_at"].get<std::string>());
  EXPECT_FALSE(manifest.contains("encryption"));
  EXPECT_TRUE(details["phases"].contains("dump_seconds"));

  auto context = run_->context();
  const auto verified = VerifyBackupAction().run(context, action_step("verify-backup", "db", {{"backup", details["backup_id"]}}));
  EXPECT_EQ(verified["checks"]["row_counts"]["public.orders"], 1000);
  EXPECT_EQ(verified["checks"]["amcheck"], "ok");
  for (const char* phase : {"checksum_seconds", "restore_seconds", "verify_seconds"})
    EXPECT_TRUE(verified["phases"].contains(phase)) << phase;
  EXPECT_FALSE(run_->runtime.is_running("db-verify")) << "the scratch container must be removed";
  const std::string events = run_->events_text();
  EXPECT_NE(events.find("\"backup.started\""), std::string::npos);
  EXPECT_NE(events.find("\"backup.finished\""), std::string::npos);
  EXPECT_NE(events.find("\"backup.verify.finished\""), std::string::npos);
}

TEST_F(BackupTest, AFlippedByteFailsVerificationNamingTheFile) {
  const auto details = backup();
  const std::filesystem::path folder = details.at("path").get<std::string>();
  flip_byte(folder / "postgres.dump", std::filesystem::file_size(folder / "postgres.dump") / 2);
  const std::string failure = verify_failure(*run_, {{"backup", details["backup_id"]}});
  EXPECT_NE(failure.find("postgres.dump"), std::string::npos) << failure;
  EXPECT_NE(failure.find("sha256 mismatch"), std::string::npos) << failure;
}

TEST_F(BackupTest, ATruncatedFileFailsVerification) {
  const auto details = backup();
  const std::filesystem::path folder = details.at("path").get<std::string>();
  std::filesystem::resize_file(folder / "postgres.dump", std::filesystem::file_size(folder / "postgres.dump") - 100);
  const std::string failure = verify_failure(*run_, {{"backup", details["backup_id"]}});
  EXPECT_NE(failure.find("postgres.dump"), std::string::npos) << failure;
  EXPECT_NE(failure.find("truncated"), std::string::npos) << failure;
}

TEST_F(BackupTest, AManifestThatDisagreesWithTheDataFailsTheRestoreCheck) {
  const auto details = backup();
  const std::filesystem::path folder = details.at("path").get<std::string>();
  auto manifest = read_manifest(folder);
  manifest["postgres"]["row_counts"]["public.orders"] = 1001;
  // Resealed with the machine's key, as only firedrill could: the data itself must disagree.
  manifest = seal_manifest(manifest, ManifestKey::of_machine(run_->manifest_key_file(), false));
  std::ofstream(folder / "manifest.json") << manifest.dump(2);
  const std::string failure = verify_failure(*run_, {{"backup", details["backup_id"]}});
  EXPECT_NE(failure.find("public.orders has 1000 rows, 1001 at backup time"), std::string::npos) << failure;
}

TEST_F(BackupTest, EncryptionRefusesAnOpenKeyAndDetectsTampering) {
  const auto keys = run_->directory() / "keys";
  std::filesystem::create_directories(keys);
  const auto open_key = write_key(keys, "open.key", 0644);
  try {
    backup({{"encrypt_key", open_key.string()}});
    ADD_FAILURE() << "a 0644 key file was accepted";
  } catch (const ActionFailed& failure) {
    EXPECT_NE(std::string(failure.what()).find("has mode 0644"), std::string::npos) << failure.what();
  }

  const auto key = write_key(keys, "backup.key", 0600);
  const auto details = backup({{"encrypt_key", key.string()}});
  const std::filesystem::path folder = details.at("path").get<std::string>();
  const auto manifest = read_manifest(folder);
  EXPECT_EQ(manifest["encryption"], "aes-256-gcm");
  EXPECT_EQ(manifest["key_id"].get<std::string>().size(), 16u);
  EXPECT_EQ(manifest["files"][0]["name"], "postgres.dump.enc");
  EXPECT_FALSE(std::filesystem::exists(folder / "postgres.dump"));
  EXPECT_NE(read_text(folder / "postgres.dump.enc").substr(12, 5), "PGDMP");
  const std::string key_text = std::string(64, 'a');
  EXPECT_EQ(read_text(folder / "manifest.json").find(key_text), std::string::npos);
  EXPECT_EQ(run_->events_text().find(key_text), std::string::npos);
  EXPECT_EQ(manifest["files"][0]["sha256"], sha256_file(folder / "postgres.dump.enc"));

  EXPECT_EQ(verify_failure(*run_, {{"backup", details["backup_id"]}, {"encrypt_key", key.string()}}), "");
  const std::string without_key = verify_failure(*run_, {{"backup", details["backup_id"]}});
  EXPECT_NE(without_key.find("is encrypted"), std::string::npos) << without_key;
  const auto other = write_key(keys, "other.key", 0600);
  const std::string wrong_key = verify_failure(*run_, {{"backup", details["backup_id"]}, {"encrypt_key", other.string()}});
  EXPECT_NE(wrong_key.find("not with the key"), std::string::npos) << wrong_key;

  // Altered ciphertext with a manifest updated to match: the manifest's MAC refuses it.
  flip_byte(folder / "postgres.dump.enc", 100);
  auto altered = manifest;
  altered["files"][0]["sha256"] = sha256_file(folder / "postgres.dump.enc");
  std::ofstream(folder / "manifest.json") << altered.dump(2);
  const std::string unauthentic = verify_failure(*run_, {{"backup", details["backup_id"]}, {"encrypt_key", key.string()}});
  EXPECT_NE(unauthentic.find("HMAC-SHA256 mismatch"), std::string::npos) << unauthentic;
  // Resealed, as only the key's holder could: only the GCM tag can notice.
  altered = seal_manifest(altered, ManifestKey::derived_from(EncryptionKey::load(key)));
  std::ofstream(folder / "manifest.json", std::ios::trunc) << altered.dump(2);
  const std::string tampered = verify_failure(*run_, {{"backup", details["backup_id"]}, {"encrypt_key", key.string()}});
  EXPECT_NE(tampered.find("postgres.dump.enc"), std::string::npos) << tampered;
  EXPECT_NE(tampered.find("GCM tag mismatch"), std::string::npos) << tampered;
}

TEST_F(BackupTest, ADamagedManifestOfTheLatestBackupFailsInsteadOfFallingBackToAnOlderOne) {
  backup();
  const auto details = backup();
  const std::filesystem::path folder = details.at("path").get<std::string>();
  std::ofstream(folder / "manifest.json", std::ios::app) << "\x01garbage";
  const std::string failure = verify_failure(*run_, {{"backup", "latest"}});
  EXPECT_NE(failure.find(details["backup_id"].get<std::string>() + ": manifest.json is not the one this run wrote"),
            std::string::npos)
      << failure;
  const std::string named = verify_failure(*run_, {{"backup", details["backup_id"]}});
  EXPECT_NE(named.find(details["backup_id"].get<std::string>() + ": manifest.json is not a backup manifest"),
            std::string::npos)
      << named;
}

// Security review 2, M9: root in the database's container, which has the repository mounted,
// sets the newest manifest's "image" to firedrill/redis:7; verify-backup ran that image. Then it
// copies an older set over the newest one, then removes the newest: a rollback.
TEST_F(BackupTest, ASetChangedFromInsideTheDatabaseContainerIsRefusedAndNothingOfItRuns) {
  const auto older = backup();
  const auto newest = backup();
  const std::string id = newest["backup_id"];
  const std::string in_container = std::string(repository_mount_path) + "/" + id;
  const auto exec_in_db = [&](const std::string& script) {
    const auto result = run_->runtime.exec("db", {"sh", "-c", script, "sh", in_container, older["backup_id"]}, 30s);
    ASSERT_EQ(result.exit_code, 0) << result.output;
  };
  exec_in_db(R"(sed -i 's#"image": "[^"]*"#"image": "firedrill/redis:7"#' "$1/manifest.json")");
  ASSERT_EQ(read_manifest(newest["path"].get<std::string>())["image"], "firedrill/redis:7");

  const std::size_t created_before = run_->created().size();
  const std::string edited = verify_failure(*run_, {{"backup", id}});
  EXPECT_EQ(edited, fmt::format("backup {}: manifest.json fails authentication (HMAC-SHA256 mismatch): it was changed "
                                "after firedrill wrote it, so nothing in it is used",
                                id));
  // As `latest`, the run's own record of what it wrote already tells.
  const std::string edited_latest = verify_failure(*run_, {});
  EXPECT_NE(edited_latest.find(fmt::format("backup {}: manifest.json is not the one this run wrote", id)), std::string::npos)
      << edited_latest;
  EXPECT_EQ(run_->created().size(), created_before) << "a scratch container was created for a forged manifest: "
                                                    << run_->created().back().second;

  exec_in_db(R"(cp -a "$(dirname "$1")/$2/." "$1/")");
  const std::string swapped = verify_failure(*run_, {{"backup", id}});
  EXPECT_NE(swapped.find(fmt::format("backup {}: its folder holds the manifest of backup {}", id,
                                     older["backup_id"].get<std::string>())),
            std::string::npos)
      << swapped;

  exec_in_db(R"(rm -rf "$1")");
  const std::string rolled_back = verify_failure(*run_, {});
  EXPECT_NE(rolled_back.find(fmt::format("is {}, but this run wrote {} there: the repository was rolled back",
                                         older["backup_id"].get<std::string>(), id)),
            std::string::npos)
      << rolled_back;
  EXPECT_EQ(run_->created().size(), created_before) << run_->created().back().second;
  // The set named explicitly is the older set, as it was written, and still verifies.
  EXPECT_EQ(verify_failure(*run_, {{"backup", older["backup_id"]}}), "");
}

TEST_F(BackupTest, RepositoryParameterPointsTheBackupElsewhere) {
  const auto repository = run_->directory() / "bucket";
  const auto details = backup({{"repository", repository.string()}});
  EXPECT_EQ(std::filesystem::path(details["path"].get<std::string>()).parent_path(), repository);
  EXPECT_EQ(verify_failure(*run_, {{"repository", repository.string()}}), "");
}

TEST_F(BackupTest, RedisRdbBackupVerifies) {
  const auto details = backup({}, "cache");
  const std::filesystem::path folder = details.at("path").get<std::string>();
  const auto manifest = read_manifest(folder);
  EXPECT_EQ(manifest["method"], "rdb");
  EXPECT_EQ(manifest["redis"]["dbsize_start"], 200);
  EXPECT_EQ(manifest["redis"]["dbsize_end"], 200);
  EXPECT_FALSE(manifest["redis"]["sampled_keys"].empty());
  EXPECT_NE(manifest["tools"]["redis-server"].get<std::string>().find("Redis server"), std::string::npos);
  EXPECT_EQ(read_text(folder / "dump.rdb").substr(0, 5), "REDIS");
  EXPECT_EQ(manifest["files"][0]["sha256"], sha256_file(folder / "dump.rdb"));

  auto context = run_->context();
  const auto verified = VerifyBackupAction().run(context, action_step("verify-backup", "cache", {{"backup", "latest"}}));
  EXPECT_EQ(verified["backup_id"], details["backup_id"]);
  EXPECT_EQ(verified["checks"]["dbsize"], 200);
  EXPECT_FALSE(run_->runtime.is_running("cache-verify"));

  flip_byte(folder / "dump.rdb", 20);
  const std::string failure = verify_failure(*run_, {}, "cache");
  EXPECT_NE(failure.find("dump.rdb: sha256 mismatch"), std::string::npos) << failure;
}

TEST_F(BackupTest, BaseBackupVerifiesByStartingOnIt) {
  const auto details = backup({{"method", "basebackup"}});
  const std::filesystem::path folder = details.at("path").get<std::string>();
  EXPECT_TRUE(std::filesystem::exists(folder / "base.tar"));
  EXPECT_TRUE(std::filesystem::exists(folder / "backup_manifest"));
  auto context = run_->context();
  const auto verified = VerifyBackupAction().run(context, action_step("verify-backup", "db", {{"backup", details["backup_id"]}}));
  EXPECT_EQ(verified["checks"]["row_counts"]["public.orders"], 1000);
  EXPECT_EQ(verified["checks"]["pg_verifybackup"], "ok");
}

TEST_F(BackupTest, RestoreRecreatesTheDatabaseFromAPgDumpBackup) {
  const auto details = backup();
  {
    pqxx::connection connection(run_->conninfo());
    pqxx::work work(connection);
    work.exec("DELETE FROM orders WHERE id % 2 = 0");
    work.exec("DROP TABLE audit");
    work.exec("CREATE TABLE stray (id int)");
    work.commit();
  }
  auto context = run_->context();
  const auto restored = RestoreAction().run(context, action_step("restore", "db", {{"backup", details["backup_id"]}}));
  for (const char* phase : {"checksum_seconds", "copy_seconds", "restore_seconds", "verify_seconds"})
    EXPECT_TRUE(restored["phases"].contains(phase)) << phase;
  pqxx::connection connection(run_->conninfo());
  pqxx::work work(connection);
  EXPECT_EQ(work.exec1("SELECT count(*) FROM orders")[0].as<long long>(), 1000);
  EXPECT_EQ(work.exec1("SELECT count(*) FROM audit")[0].as<long long>(), 37);
  EXPECT_EQ(work.exec1("SELECT count(*) FROM pg_tables WHERE tablename = 'stray'")[0].as<long long>(), 0);
  EXPECT_NE(run_->events_text().find("\"restore.finished\""), std::string::npos);
}

TEST_F(BackupTest, RestoreOfARedisTargetWithoutABackupFailsSayingSo) {
  auto context = run_->context();
  try {
    RestoreAction().run(context, action_step("restore", "cache"));
    ADD_FAILURE() << "a redis restore without a backup succeeded";
  } catch (const ActionFailed& failure) {
    EXPECT_NE(std::string(failure.what()).find("no backup of 'cache'"), std::string::npos) << failure.what();
  }
}

TEST(BackupAction, RefusesAnUnknownMethodAtValidation) {
  const auto spec = BackupAction::spec();
  EXPECT_THROW(spec.check_combination(action_step("backup", "db", {{"method", "tarball"}})), std::invalid_argument);
  EXPECT_NO_THROW(spec.check_combination(action_step("backup", "db", {{"method", "basebackup"}})));
}

}  // namespace
}  // namespace firedrill
