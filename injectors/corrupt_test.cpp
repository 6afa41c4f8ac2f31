#include "injectors/corrupt.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "harness/runtime/fake_runtime.hpp"
#include "injectors/netfilter_test.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using corrupt::ByteChange;
using corrupt::PlannedChange;
using corrupt::Region;
using corrupt::RestoreOutcome;
using netfault_testing::eventually;
using netfault_testing::fault_step;
using netfault_testing::scalar;

std::string unique_name(const std::string& stem) {
  return fmt::format("{}-{}-{}", stem, getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

std::string read_all(const std::filesystem::path& file) {
  std::ifstream input(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>()};
}

void write_all(const std::filesystem::path& file, const std::string& bytes) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << bytes;
}

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(random() & 0xFF);
  return bytes;
}

/// The bytes of `after` that differ from `before`, as changes (the files have one size).
std::vector<ByteChange> differences(const std::string& before, const std::string& after) {
  std::vector<ByteChange> changes;
  for (std::size_t i = 0; i < before.size() && i < after.size(); ++i)
    if (before[i] != after[i])
      changes.push_back({i, static_cast<std::uint8_t>(before[i]), static_cast<std::uint8_t>(after[i])});
  return changes;
}

/// A temporary folder standing for a run directory, with an event log and a recording journal.
class Scratch {
 public:
  Scratch() : directory(fresh_directory()), events(directory / "events.jsonl", clock) {}
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
  }

  FaultContext context(Runtime& runtime) {
    return FaultContext{runtime, events,
                        [this](const nlohmann::json& inverse) {
                          journalled.push_back(inverse);
                          return std::to_string(journalled.size());
                        },
                        [this](const std::string& id) { reverted.push_back(id); }, directory};
  }

  std::vector<std::string> event_kinds() const {
    std::vector<std::string> kinds;
    for (const auto& event : events.snapshot()) kinds.push_back(event.kind);
    return kinds;
  }

  static std::filesystem::path fresh_directory() {
    auto directory = std::filesystem::temp_directory_path() / unique_name("corrupt-test");
    std::filesystem::create_directories(directory);
    return directory;
  }

  std::filesystem::path directory;
  SteadyAnchoredClock clock;
  EventLog events;
  std::vector<nlohmann::json> journalled;
  std::vector<std::string> reverted;
};

TEST(corrupt_plan, SameSeedSameBytesOtherSeedOtherBytes) {
  const auto regions = corrupt::relation_regions(10 * corrupt::postgres_page_size);
  const auto first = corrupt::plan_changes(regions, 7, 16);
  EXPECT_EQ(first, corrupt::plan_changes(regions, 7, 16));
  EXPECT_NE(first, corrupt::plan_changes(regions, 8, 16));
  ASSERT_EQ(first.size(), 16u);
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_GE(first[i].offset % corrupt::postgres_page_size, corrupt::postgres_page_header_size) << first[i].offset;
    EXPECT_LT(first[i].offset, 10 * corrupt::postgres_page_size);
    EXPECT_NE(first[i].mask, 0);
    if (i > 0) {
      EXPECT_LT(first[i - 1].offset, first[i].offset) << "offsets are distinct and sorted";
    }
  }
}

TEST(corrupt_plan, NeverMoreBytesThanTheRegionsHoldAndPartialPagesAreLeftOut) {
  const auto plan = corrupt::plan_changes({{100, 105}}, 1, 16);
  ASSERT_EQ(plan.size(), 5u);
  for (std::uint64_t i = 0; i < 5; ++i) EXPECT_EQ(plan[i].offset, 100 + i);
  EXPECT_TRUE(corrupt::relation_regions(corrupt::postgres_page_size - 1).empty());
  const auto regions = corrupt::relation_regions(2 * corrupt::postgres_page_size + 10);
  ASSERT_EQ(regions.size(), 2u);
  EXPECT_EQ(regions[1].begin, corrupt::postgres_page_size + 24);
  EXPECT_EQ(regions[1].end, 2 * corrupt::postgres_page_size);
}

TEST(corrupt_restore, PutsBackOnlyWhatItChangedAndLeavesAReplacedFileAlone) {
  Scratch scratch;
  const auto file = scratch.directory / "data.bin";
  const ConfinedPath confined{scratch.directory, "data.bin"};
  const std::string original = random_bytes(4096, 11);
  write_all(file, original);

  const auto changes = corrupt::read_changes(confined, corrupt::plan_changes({{0, 4096}}, 3, 12));
  corrupt::write_changes(confined, changes);
  EXPECT_EQ(differences(original, read_all(file)), changes);
  EXPECT_EQ(corrupt::changes_from_json(corrupt::to_json(changes)), changes);

  EXPECT_EQ(corrupt::restore(confined, changes), RestoreOutcome::restored);
  EXPECT_EQ(read_all(file), original);
  EXPECT_EQ(corrupt::restore(confined, changes), RestoreOutcome::already_restored);

  corrupt::write_changes(confined, changes);
  const std::string replaced = random_bytes(4096, 12);
  write_all(file, replaced);
  EXPECT_EQ(corrupt::restore(confined, changes), RestoreOutcome::changed_since);
  EXPECT_EQ(read_all(file), replaced);
  std::filesystem::remove(file);
  EXPECT_EQ(corrupt::restore(confined, changes), RestoreOutcome::missing);

  // What the service turned into a symlink out of its data root is "missing", not followed.
  const auto outside = scratch.directory.parent_path() / (scratch.directory.filename().string() + "-victim");
  write_all(outside, original);
  std::filesystem::create_symlink(outside, file);
  EXPECT_EQ(corrupt::restore(confined, changes), RestoreOutcome::missing);
  EXPECT_THROW(corrupt::write_changes(confined, changes), std::runtime_error);
  EXPECT_EQ(read_all(outside), original);
  std::filesystem::remove(outside);
}

TEST(corrupt_params, RefuseWhatIsMissingOrMisplaced) {
  try {
    CorruptInjector::check_params(fault_step("corrupt", "db", {{"what", scalar("tables")}}));
    ADD_FAILURE() << "an unknown what was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "step 'corrupt test': corrupt 'what' must be one of relation, wal, rdb, aof, backup, file (got 'tables')");
  }
  EXPECT_THROW(CorruptInjector::check_params(fault_step("corrupt", "", {{"what", scalar("relation")}})),
               std::invalid_argument);
  EXPECT_THROW(CorruptInjector::check_params(fault_step("corrupt", "db", {{"what", scalar("file")}})),
               std::invalid_argument);
  EXPECT_THROW(CorruptInjector::check_params(
                   fault_step("corrupt", "db", {{"what", scalar("file")}, {"path", scalar("relative/path")}})),
               std::invalid_argument);
  EXPECT_THROW(CorruptInjector::check_params(
                   fault_step("corrupt", "", {{"what", scalar("backup")}, {"path", scalar("../escape")}})),
               std::invalid_argument);
  EXPECT_THROW(CorruptInjector::check_params(
                   fault_step("corrupt", "db", {{"what", scalar("relation")}, {"seed", scalar("-1")}})),
               std::invalid_argument);
  EXPECT_THROW(CorruptInjector::check_params(
                   fault_step("corrupt", "db", {{"what", scalar("relation")}, {"bytes", scalar("0")}})),
               std::invalid_argument);
  EXPECT_THROW(CorruptInjector::check_params(
                   fault_step("corrupt", "cache", {{"what", scalar("rdb")}, {"table", scalar("orders")}})),
               std::invalid_argument);
  EXPECT_NO_THROW(CorruptInjector::check_params(fault_step("corrupt", "", {{"what", scalar("backup")}})));
  EXPECT_NO_THROW(CorruptInjector::check_params(
      fault_step("corrupt", "db", {{"what", scalar("relation")}, {"seed", scalar("7")}, {"bytes", scalar("4")}})));
}

TEST(corrupt_registry, IsListedWithItsParameters) {
  const auto& registry = fault_registry();
  ASSERT_TRUE(registry.count("corrupt"));
  std::vector<std::string> names;
  for (const auto& param : registry.at("corrupt").spec.params) names.push_back(param.name);
  EXPECT_EQ(names, (std::vector<std::string>{"what", "table", "path", "seed", "bytes", "grace"}));
}

TEST(corrupt_backup, ChangesTheNewestBackupSetsDataAsReportedAndRevertRestoresIt) {
  Scratch scratch;
  FakeRuntime runtime;
  // Backup sets as the backup action writes them: <id>/manifest.json beside the data files.
  const auto sets = scratch.directory / "backups";
  const auto older = sets / "20261125T100000.000Z-db" / "postgres.dump";
  const auto newest = sets / "20261125T110000.000Z-db" / "postgres.dump";
  write_all(older, random_bytes(4096, 1));
  write_all(sets / "20261125T100000.000Z-db" / "manifest.json", "{}");
  write_all(newest, random_bytes(3000, 2));
  write_all(sets / "20261125T110000.000Z-db" / "globals.sql", random_bytes(100, 3));
  write_all(sets / "20261125T110000.000Z-db" / "manifest.json", "{}");
  std::filesystem::last_write_time(newest, std::filesystem::last_write_time(older) - 1h);
  const std::string older_bytes = read_all(older);
  const std::string original = read_all(newest);

  auto context = scratch.context(runtime);
  CorruptInjector injector;
  auto fault = injector.inject(context, fault_step("corrupt", "", {{"what", scalar("backup")}, {"seed", scalar("9")}}));

  const auto described = fault->describe();
  EXPECT_EQ(described["what"], "backup");
  EXPECT_EQ(described["file"], newest.string());
  EXPECT_EQ(described["seed"], 9);
  EXPECT_EQ(described["stopped_service"], false);
  const auto reported = corrupt::changes_from_json(described["changes"]);
  EXPECT_EQ(reported.size(), 16u);
  EXPECT_EQ(differences(original, read_all(newest)), reported);
  EXPECT_EQ(read_all(older), older_bytes);
  ASSERT_EQ(scratch.journalled.size(), 1u);
  EXPECT_EQ(scratch.journalled[0]["type"], "corrupt");
  EXPECT_EQ(scratch.journalled[0]["changes"], described["changes"]);
  EXPECT_TRUE(runtime.calls().empty()) << "a backup involves no service";

  fault->revert();
  fault->revert();
  EXPECT_EQ(read_all(newest), original);
  EXPECT_EQ(scratch.reverted, std::vector<std::string>{"1"});

  // The journalled inverse alone reverts too (what `firedrill cleanup` does), any number of times.
  corrupt::write_changes({newest.parent_path(), newest.filename()}, reported);
  revert_from_journal(runtime, scratch.journalled[0]);
  revert_from_journal(runtime, scratch.journalled[0]);
  EXPECT_EQ(read_all(newest), original);
}

TEST(corrupt_backup, NamedPathIsUsedAndAMissingRepositoryIsAnEnvironmentError) {
  Scratch scratch;
  FakeRuntime runtime;
  auto context = scratch.context(runtime);
  CorruptInjector injector;
  EXPECT_THROW(injector.inject(context, fault_step("corrupt", "", {{"what", scalar("backup")}})), EnvironmentError);

  const auto chosen = scratch.directory / "backups" / "one.dump";
  write_all(chosen, random_bytes(100, 3));
  write_all(scratch.directory / "backups" / "two.dump", random_bytes(100, 4));
  const std::string original = read_all(chosen);
  auto fault = injector.inject(context, fault_step("corrupt", "", {{"what", scalar("backup")},
                                                                   {"path", scalar("one.dump")},
                                                                   {"bytes", scalar("3")}}));
  EXPECT_EQ(differences(original, read_all(chosen)).size(), 3u);
  fault->revert();
  EXPECT_EQ(read_all(chosen), original);
}

/// Postgres, Redis (RDB) and Redis with an AOF (`journal`) on a run network of their own, removed however the suite ends.
class ServiceFilesRun {
 public:
  static constexpr const char* password = "corrupt-test-secret";

  ServiceFilesRun() : run_id_(unique_name("test-corrupt")) {
    runtime.begin_run(run_id_, "corrupt-test", Owner::self(), {});
    try {
      runtime.create_network();
      ContainerSpec db;
      db.service = "db";
      db.image = "firedrill/postgres:15";
      db.env = {fmt::format("POSTGRES_PASSWORD={}", password)};
      db.ports = {5432};
      ContainerSpec cache;
      cache.service = "cache";
      cache.image = "firedrill/redis:7";
      cache.ports = {6379};
      ContainerSpec journal = cache;
      journal.service = "journal";
      journal.command = {"--appendonly", "yes", "--appendfsync", "always"};
      runtime.start(db);
      runtime.start(cache);
      runtime.start(journal);
      ready = db_answers(90s) && eventually([&] { return redis("cache", {"PING"}) == "PONG"; }, 30s) &&
              eventually([&] { return redis("journal", {"PING"}) == "PONG"; }, 30s);
    } catch (...) {
      teardown();
      throw;
    }
  }
  ServiceFilesRun(const ServiceFilesRun&) = delete;
  ServiceFilesRun& operator=(const ServiceFilesRun&) = delete;
  ~ServiceFilesRun() { teardown(); }

  void teardown() {
    try {
      runtime.teardown();
    } catch (const std::exception& error) {
      ADD_FAILURE() << "teardown of " << run_id_ << " failed: " << error.what();
    }
  }

  std::string conninfo() {
    return fmt::format("host=127.0.0.1 port={} user=postgres password={} dbname=postgres connect_timeout=2",
                       runtime.inspect("db").host_ports.at(5432), password);
  }

  /// Whether Postgres answers a query over TCP within `within` (it restarts once after init).
  bool db_answers(std::chrono::milliseconds within) {
    return eventually(
        [&] {
          try {
            pqxx::connection connection(conninfo());
            pqxx::nontransaction query(connection);
            return query.exec1("SELECT 1")[0].as<int>() == 1;
          } catch (const std::exception&) {
            return false;
          }
        },
        within, 250ms);
  }

  /// Runs one statement and returns the first column of the first row ("" when none).
  std::string sql(const std::string& statement) {
    pqxx::connection connection(conninfo());
    pqxx::nontransaction query(connection);
    const auto result = query.exec(statement);
    return result.empty() || result[0][0].is_null() ? "" : result[0][0].as<std::string>();
  }

  /// redis-cli --raw in `service`'s container; its output without the final newline.
  std::string redis(const std::string& service, const std::vector<std::string>& argv) {
    std::vector<std::string> command{"redis-cli", "--raw"};
    command.insert(command.end(), argv.begin(), argv.end());
    const auto result = runtime.exec(service, command, 10s);
    std::string output = result.output;
    while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
    return output;
  }

  DockerRuntime runtime;
  bool ready = false;

 private:
  std::string run_id_;
};

class CorruptServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string missing = [] {
      if (!docker::EngineApi::from_environment().ping()) return std::string("no Docker engine answers");
      for (const char* image : {"firedrill/postgres:15", "firedrill/redis:7"})
        if (!netfault_testing::image_present(image)) return fmt::format("image {} is missing (fixtures/images/build)", image);
      return std::string();
    }();
    if (!missing.empty()) {
      skip_reason_ = new std::string(missing);
      return;
    }
    run_ = new ServiceFilesRun();
  }
  static void TearDownTestSuite() {
    delete run_;
    run_ = nullptr;
    delete skip_reason_;
    skip_reason_ = nullptr;
  }
  void SetUp() override {
    if (skip_reason_) {
      if (std::getenv("CI") != nullptr) FAIL() << *skip_reason_ << " (CI is set, so this is a failure)";
      GTEST_SKIP() << *skip_reason_;
    }
    ASSERT_TRUE(run_->ready) << "Postgres or Redis never answered";
  }

  static inline ServiceFilesRun* run_ = nullptr;
  static inline std::string* skip_reason_ = nullptr;
  Scratch scratch_;
};

// ctest selects tests by a case-sensitive pattern; `-R corrupt` finds these by their suite names.
using corrupt_services = CorruptServiceTest;

TEST_F(corrupt_services, PostgresRunsWithDataChecksums) { EXPECT_EQ(run_->sql("SHOW data_checksums"), "on"); }

TEST_F(corrupt_services, RelationMakesPostgresReportTheBadPageUntilReverted) {
  run_->sql("DROP TABLE IF EXISTS corrupt_rows");
  run_->sql("CREATE TABLE corrupt_rows (id int PRIMARY KEY, payload text NOT NULL)");
  run_->sql("INSERT INTO corrupt_rows SELECT n, repeat(md5(n::text), 4) FROM generate_series(1, 2000) AS n");

  auto context = scratch_.context(run_->runtime);
  CorruptInjector injector;
  auto fault = injector.inject(context, fault_step("corrupt", "db", {{"what", scalar("relation")},
                                                                     {"table", scalar("corrupt_rows")},
                                                                     {"seed", scalar("7")}}));
  const auto described = fault->describe();
  EXPECT_EQ(described["what"], "relation");
  EXPECT_TRUE(described["file"].get<std::string>().starts_with("/var/lib/postgresql/data/base/")) << described.dump();
  EXPECT_EQ(described["stopped_service"], true);
  const auto changes = corrupt::changes_from_json(described["changes"]);
  ASSERT_EQ(changes.size(), 16u);
  for (const auto& change : changes) {
    EXPECT_GE(change.offset % corrupt::postgres_page_size, corrupt::postgres_page_header_size);
    EXPECT_NE(change.old_value, change.new_value);
  }
  const auto kinds = scratch_.event_kinds();
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "fault.corrupt.stopped_service"), kinds.end());
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "fault.corrupt.changed"), kinds.end());
  EXPECT_EQ(scratch_.reverted, std::vector<std::string>{"1"}) << "the service was started again";

  ASSERT_TRUE(run_->db_answers(60s)) << run_->runtime.logs("db");
  std::string error;
  try {
    run_->sql("SELECT count(*) FROM corrupt_rows");
  } catch (const std::exception& failure) {
    error = failure.what();
  }
  EXPECT_TRUE(error.find("invalid page") != std::string::npos || error.find("checksum") != std::string::npos)
      << "the query said: '" << error << "'";

  fault->revert();
  fault->revert();
  EXPECT_EQ(run_->sql("SELECT count(*) FROM corrupt_rows"), "2000");
  run_->sql("DROP TABLE corrupt_rows");
}

TEST_F(corrupt_services, WalCheckpointRecordKeepsPostgresFromStartingUntilReverted) {
  run_->sql("CREATE TABLE IF NOT EXISTS corrupt_wal (id int)");
  run_->sql("INSERT INTO corrupt_wal VALUES (1), (2), (3)");

  auto context = scratch_.context(run_->runtime);
  CorruptInjector injector;
  auto fault = injector.inject(context, fault_step("corrupt", "db", {{"what", scalar("wal")}, {"seed", scalar("2")}}));
  const auto described = fault->describe();
  EXPECT_TRUE(described["file"].get<std::string>().starts_with("/var/lib/postgresql/data/pg_wal/")) << described.dump();

  EXPECT_TRUE(eventually([&] { return !run_->runtime.is_running("db"); }, 30s)) << "Postgres started on damaged WAL";
  EXPECT_NE(run_->runtime.logs("db").find("could not locate a valid checkpoint record"), std::string::npos)
      << run_->runtime.logs("db");

  fault->revert();
  ASSERT_TRUE(run_->db_answers(60s)) << run_->runtime.logs("db");
  EXPECT_EQ(run_->sql("SELECT count(*) FROM corrupt_wal"), "3");
  run_->sql("DROP TABLE corrupt_wal");
}

TEST_F(corrupt_services, RdbKeepsRedisFromLoadingUntilReverted) {
  for (int i = 0; i < 50; ++i) run_->redis("cache", {"SET", fmt::format("corrupt:{}", i), fmt::format("value-{}", i)});
  ASSERT_EQ(run_->redis("cache", {"SAVE"}), "OK");
  const auto ready_lines_before = [&] {
    const auto logs = run_->runtime.logs("cache");
    std::size_t count = 0;
    for (auto at = logs.find("Ready to accept connections"); at != std::string::npos;
         at = logs.find("Ready to accept connections", at + 1))
      ++count;
    return count;
  };
  const auto started_before = ready_lines_before();

  auto context = scratch_.context(run_->runtime);
  CorruptInjector injector;
  auto fault = injector.inject(context, fault_step("corrupt", "cache", {{"what", scalar("rdb")}, {"seed", scalar("3")}}));
  EXPECT_EQ(fault->describe()["file"], "/data/dump.rdb");

  EXPECT_TRUE(eventually([&] { return !run_->runtime.is_running("cache"); }, 30s)) << "Redis loaded a damaged RDB";
  EXPECT_EQ(ready_lines_before(), started_before) << run_->runtime.logs("cache");

  fault->revert();
  EXPECT_TRUE(eventually([&] { return run_->redis("cache", {"PING"}) == "PONG"; }, 30s)) << run_->runtime.logs("cache");
  EXPECT_EQ(run_->redis("cache", {"GET", "corrupt:42"}), "value-42");
}

TEST_F(corrupt_services, AofDamagesTheNewestIncrementalFileUntilReverted) {
  std::map<std::string, std::string> written;
  for (int i = 0; i < 50; ++i) {
    written[fmt::format("journal:{}", i)] = fmt::format("value-{}", i);
    run_->redis("journal", {"SET", fmt::format("journal:{}", i), fmt::format("value-{}", i)});
  }

  auto context = scratch_.context(run_->runtime);
  CorruptInjector injector;
  auto fault = injector.inject(context, fault_step("corrupt", "journal", {{"what", scalar("aof")},
                                                                          {"seed", scalar("4")},
                                                                          {"bytes", scalar("32")}}));
  const auto described = fault->describe();
  const std::string file = described["file"];
  EXPECT_TRUE(file.starts_with("/data/appendonlydir/appendonly.aof.") && file.ends_with(".incr.aof")) << file;
  ASSERT_EQ(scratch_.journalled.size(), 2u) << "a start and the corruption";
  const std::filesystem::path host = scratch_.journalled[1]["host_path"].get<std::string>();
  EXPECT_EQ(std::filesystem::path(scratch_.journalled[1]["host_root"].get<std::string>()) /
                scratch_.journalled[1]["host_inside"].get<std::string>(),
            host);
  const std::string damaged = read_all(host);
  for (const auto& change : corrupt::changes_from_json(described["changes"])) {
    ASSERT_LT(change.offset, damaged.size());
    EXPECT_EQ(static_cast<std::uint8_t>(damaged[change.offset]), change.new_value) << change.offset;
  }

  // With this seed the damage reaches the protocol (not only values), so Redis stops reading it.
  EXPECT_TRUE(eventually([&] { return !run_->runtime.is_running("journal"); }, 10s)) << "Redis loaded the damaged AOF";
  EXPECT_NE(run_->runtime.logs("journal").find("reading the append only file"), std::string::npos)
      << run_->runtime.logs("journal");

  fault->revert();
  EXPECT_TRUE(eventually([&] { return run_->redis("journal", {"PING"}) == "PONG"; }, 30s)) << run_->runtime.logs("journal");
  for (const auto& [key, value] : written) EXPECT_EQ(run_->redis("journal", {"GET", key}), value) << key;
}

TEST_F(corrupt_services, FileChangesExactlyTheReportedBytesWithoutStoppingAndRevertRestoresThem) {
  const std::string path = "/tmp/corrupt-target.bin";
  const auto written = run_->runtime.exec("cache", {"sh", "-c", "head -c 5000 /dev/urandom > " + path}, 10s);
  ASSERT_EQ(written.exit_code, 0) << written.output;
  const auto contents = [&] {
    auto result = run_->runtime.exec("cache", {"od", "-An", "-v", "-tx1", path}, 10s);
    std::istringstream words(result.output);
    std::string bytes;
    std::string word;
    while (words >> word) bytes.push_back(static_cast<char>(std::stoi(word, nullptr, 16)));
    return bytes;
  };
  const std::string before = contents();
  ASSERT_EQ(before.size(), 5000u);

  auto context = scratch_.context(run_->runtime);
  CorruptInjector injector;
  auto fault = injector.inject(context, fault_step("corrupt", "cache", {{"what", scalar("file")},
                                                                        {"path", scalar(path)},
                                                                        {"seed", scalar("5")},
                                                                        {"bytes", scalar("8")}}));
  const auto described = fault->describe();
  EXPECT_EQ(described["stopped_service"], false);
  EXPECT_TRUE(run_->runtime.is_running("cache"));
  EXPECT_EQ(differences(before, contents()), corrupt::changes_from_json(described["changes"]));
  EXPECT_EQ(corrupt::changes_from_json(described["changes"]).size(), 8u);

  fault->revert();
  EXPECT_EQ(contents(), before);
}

}  // namespace
}  // namespace firedrill
