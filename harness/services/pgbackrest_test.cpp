#include "harness/services/pgbackrest.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

TEST(PgbackrestConfig, NamesTheStanzaAfterTheServiceAndPutsItsRepositoryInsideTheBackupRepository) {
  EXPECT_EQ(pgbackrest_config("db", "app", "/var/lib/postgresql/data", "/var/lib/firedrill/repository"),
            "[global]\n"
            "repo1-path=/var/lib/firedrill/repository/pgbackrest/db\n"
            "process-max=1\n"
            "compress-type=lz4\n"
            "start-fast=y\n"
            "log-level-console=info\n"
            "log-level-stderr=warn\n"
            "log-level-file=off\n"
            "\n"
            "[db]\n"
            "pg1-path=/var/lib/postgresql/data\n"
            "pg1-user=app\n");
}

TEST(PgbackrestConfig, HoldsNoPassword) {
  const std::string config = pgbackrest_config("orders-db", "postgres", "/data", "/repo");
  EXPECT_EQ(config.find("pass"), std::string::npos);
  EXPECT_EQ(config.find("cipher"), std::string::npos);
  EXPECT_NE(config.find("[orders-db]\n"), std::string::npos);
}

TEST(PgbackrestCommand, RunsAsPostgresOnTheServicesStanza) {
  EXPECT_EQ(pgbackrest_command("db", {"--type=full", "backup"}),
            (std::vector<std::string>{"runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=db", "--type=full", "backup"}));
  EXPECT_EQ(pgbackrest_archive_command("db"), "pgbackrest --stanza=db archive-push %p");
}

TEST(PgbackrestArchive, ListsTheSegmentNamesOfTheStanzasArchive) {
  const auto root = std::filesystem::temp_directory_path() / ("fd-pgbackrest-test-" + std::to_string(::getpid()));
  const auto prefix = root / "archive" / "db" / "15-1" / "0000000100000000";
  std::filesystem::create_directories(prefix);
  std::ofstream(prefix / "000000010000000000000003-0084a77e74b29683615d6576ffbe00aa61ef3f03.lz4") << "x";
  std::ofstream(prefix / "000000010000000000000004-6f8500fda5a2cc0ff6113eea7e2101e6ba9ba696.lz4") << "x";
  std::ofstream(root / "archive" / "db" / "15-1" / "archive.info") << "x";
  auto segments = pgbackrest_archived_segments(root, "db");
  std::sort(segments.begin(), segments.end());
  EXPECT_EQ(segments, (std::vector<std::string>{"000000010000000000000003", "000000010000000000000004"}));
  EXPECT_TRUE(pgbackrest_archived_segments(root, "other").empty());
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace firedrill
