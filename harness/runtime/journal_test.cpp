#include "harness/runtime/journal.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace firedrill {
namespace {

namespace fs = std::filesystem;

TEST(RunId, OnlyTheSyntaxNewRunIdMakes) {
  EXPECT_TRUE(is_run_id("20261201-214547-3f9a1c07b2e4d658"));
  // Runs of older versions (16 random bits) stay readable for cleanup.
  EXPECT_TRUE(is_run_id("20261201-214547-a3f9"));
  EXPECT_FALSE(is_run_id("20261201-214547-3f9a1c07b2e4d65"));
  EXPECT_FALSE(is_run_id("20261201-214547-3f9a1c07b2e4d658/"));
  for (const char* refused : {"../../canary", "", "20261201-214547-a3f", "20261201-214547-A3F9", "20261201-214547-a3f9/..",
                              "2026120x-214547-a3f9", "20261201_214547-a3f9", "/20261201-214547-a3f"})
    EXPECT_FALSE(is_run_id(refused)) << refused;
}

/// A private state directory and an --out directory, both removed afterwards.
class JournalTrust : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "journal-trust-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    ::setenv("FIREDRILL_STATE_DIR", (root_ / "state").c_str(), 1);
    out_ = root_ / "out";
    fs::create_directories(out_);
  }
  void TearDown() override {
    ::unsetenv("FIREDRILL_STATE_DIR");
    fs::remove_all(root_);
  }

  /// A dead run's journal with an unreverted corrupt inverse aimed at `victim`.
  JournalState journalled_run(const std::string& run_id) {
    const fs::path run_dir = out_ / run_id;
    fs::create_directories(run_dir);
    Journal journal(run_dir, run_id, "trust", Owner::self());
    journal.record_inverse({{"type", "corrupt"}, {"host_path", (root_ / "victim").string()}});
    for (auto& run : indexed_runs())
      if (run.run_id == run_id) return run;
    ADD_FAILURE() << run_id << " is not indexed";
    return {};
  }

  fs::path root_, out_;
};

TEST_F(JournalTrust, AJournalOnlyThisUserCouldWriteIsActedOn) {
  const auto run = journalled_run("20261201-214547-a3f9");
  EXPECT_EQ(run.untrusted, "");
  EXPECT_EQ(run.unreverted_inverses.size(), 1u);
}

TEST_F(JournalTrust, AnOutDirectoryOthersMayWriteMakesItsJournalsUntrusted) {
  // Security review 2, M2: `--out /tmp/shared` (0777): another user could append a fault
  // inverse to the journal of a dead run, which root would then apply.
  fs::permissions(out_, fs::perms::all);
  const auto run = journalled_run("20261201-214547-b3f9");
  EXPECT_EQ(run.untrusted, fmt::format("{} is writable by other users", out_.string()));
  EXPECT_TRUE(run.unreverted_inverses.empty()) << "the journal was read anyway";
}

TEST_F(JournalTrust, AJournalOthersMayWriteOrThatIsALinkIsUntrusted) {
  const std::string run_id = "20261201-214547-c3f9";
  (void)journalled_run(run_id);
  const fs::path journal = out_ / run_id / "journal.jsonl";
  fs::permissions(journal, fs::perms::others_write, fs::perm_options::add);
  EXPECT_EQ(written_by_others(journal), fmt::format("{} is writable by other users", journal.string()));
  fs::remove(journal);
  fs::create_symlink(root_ / "elsewhere.jsonl", journal);
  EXPECT_EQ(written_by_others(journal), fmt::format("{} is a symbolic link", journal.string()));
  ASSERT_EQ(::lchown(journal.c_str(), 65534, 65534), 0);
  for (const auto& run : indexed_runs()) {
    if (run.run_id == run_id) {
      EXPECT_NE(run.untrusted, "");
    }
  }
}

TEST_F(JournalTrust, AStickyWorldWritableParentIsFineAsTmpIs) {
  fs::permissions(out_, fs::perms::all | fs::perms::sticky_bit);
  EXPECT_EQ(journalled_run("20261201-214547-d3f9").untrusted, "");
}

TEST_F(JournalTrust, ARunDirectoryOfAnotherUserIsUntrusted) {
  const std::string run_id = "20261201-214547-e3f9";
  (void)journalled_run(run_id);
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  ASSERT_EQ(::chown((out_ / run_id).c_str(), 65534, 65534), 0);
  for (const auto& run : indexed_runs()) {
    if (run.run_id == run_id) {
      EXPECT_EQ(run.untrusted, fmt::format("{} belongs to uid 65534, not to this user", (out_ / run_id).string()));
    }
  }
}

TEST_F(JournalTrust, ForgetRunRemovesNothingButARunsIndexEntry) {
  // Security review 2, L1: `down ../../canary` removed a file outside the index.
  const fs::path canary = root_ / "canary";
  std::ofstream(canary) << "x";
  fs::create_directories(state_directory() / "runs");
  forget_run("../../canary");
  EXPECT_TRUE(fs::exists(canary));
}

TEST(ReadJournal, FieldsOfAnotherTypeAreReadAsMissingNotThrown) {
  // `"op": 1` made read_journal throw nlohmann's type_error, so `firedrill cleanup` stopped at a
  // journal a torn or foreign write had bent (journal_fuzz replays it: corpus/journal/op_not_a_string).
  std::string pattern = (fs::temp_directory_path() / "journal-types-XXXXXX").string();
  ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
  const fs::path file = fs::path(pattern) / "journal.jsonl";
  std::ofstream(file) << R"({"op":"begin","run_id":7,"scenario":["x"],"owner":{"host":"h"}})" "\n"
                      << R"({"op":1})" "\n"
                      << R"({"op":"create","kind":2,"name":null})" "\n"
                      << R"({"op":"fault","id":3,"inverse":{"type":"start","service":"db"}})" "\n"
                      << R"({"op":"fault","id":"fault-2","inverse":{"type":"unpause","service":"db"}})" "\n"
                      << R"({"op":"reverted","id":false})" "\n";
  const JournalState state = read_journal(file);
  fs::remove_all(pattern);
  EXPECT_EQ(state.run_id, "");
  EXPECT_EQ(state.scenario, "");
  EXPECT_FALSE(state.owner);
  EXPECT_TRUE(state.created.empty());  // names nothing to remove
  // Both faults stay unreverted: a reverted mark without a string id names neither.
  EXPECT_EQ(state.unreverted_inverses.size(), 2u);
}

}  // namespace
}  // namespace firedrill
