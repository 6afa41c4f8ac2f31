#include "reports/attestation/chain.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "reports/artifacts.hpp"
#include "reports/attestation/test_support.hpp"

namespace firedrill::attestation {
namespace {

namespace fs = std::filesystem;

class EvidenceChain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("firedrill-chain-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    for (const char* run : {"run-a", "run-b", "run-c"}) {
      fs::create_directories(dir_ / run);
      std::ofstream(dir_ / run / "attestation.dsse.json") << "{\"payload\":\"" << run << "\"}";
      append_to_chain(dir_, run, dir_ / run / "attestation.dsse.json");
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> lines() {
    std::ifstream in(dir_ / "chain.jsonl");
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    return all;
  }
  std::string read_chain_text() {
    std::ifstream in(dir_ / "chain.jsonl", std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  void rewrite(const std::vector<std::string>& all) {
    std::ofstream out(dir_ / "chain.jsonl", std::ios::trunc);
    for (const auto& line : all) out << line << "\n";
  }

  fs::path dir_;
};

TEST_F(EvidenceChain, AnIntactChainVerifies) {
  auto check = verify_chain(dir_);
  EXPECT_TRUE(check.valid) << check.reason;
  EXPECT_EQ(check.entries, 3u);
}

TEST_F(EvidenceChain, ARemovedEntryIsFound) {
  auto all = lines();
  all.erase(all.begin() + 1);
  rewrite(all);
  auto check = verify_chain(dir_);
  EXPECT_FALSE(check.valid);
  EXPECT_NE(check.reason.find("run run-c"), std::string::npos) << check.reason;
}

TEST_F(EvidenceChain, RemovingTheLastEntryIsFoundFromTheAttestationLeftBehind) {
  auto all = lines();
  all.pop_back();
  rewrite(all);
  auto check = verify_chain(dir_);
  EXPECT_FALSE(check.valid);
  EXPECT_NE(check.reason.find("run-c/attestation.dsse.json is signed but not in the chain"), std::string::npos) << check.reason;
}

TEST_F(EvidenceChain, ReorderedEntriesAreFound) {
  auto all = lines();
  std::swap(all[0], all[1]);
  rewrite(all);
  EXPECT_FALSE(verify_chain(dir_).valid);
}

TEST_F(EvidenceChain, AnAlteredEntryIsFound) {
  auto all = lines();
  auto at = all[1].find("run-b");
  all[1].replace(at, 5, "run-x");
  rewrite(all);
  auto check = verify_chain(dir_);
  EXPECT_FALSE(check.valid);
  EXPECT_NE(check.reason.find("altered"), std::string::npos) << check.reason;
}

TEST_F(EvidenceChain, AnInsertedEntryIsFound) {
  auto all = lines();
  all.insert(all.begin() + 1, all[0]);
  rewrite(all);
  EXPECT_FALSE(verify_chain(dir_).valid);
}

TEST_F(EvidenceChain, AChangedAttestationIsFound) {
  std::ofstream(dir_ / "run-b" / "attestation.dsse.json", std::ios::app) << " ";
  auto check = verify_chain(dir_);
  EXPECT_FALSE(check.valid);
  EXPECT_NE(check.reason.find("changed since it was chained"), std::string::npos) << check.reason;
}

TEST_F(EvidenceChain, ADirectoryWithoutAChainIsNotAChain) {
  fs::remove(dir_ / "chain.jsonl");
  EXPECT_THROW(verify_chain(dir_), ChainError);
}

// Each malformed chain is a broken chain with a sentence naming the line: never an exception
// (a wrongly typed field once escaped as nlohmann's type_error), a hang or a crash.
TEST_F(EvidenceChain, MalformedEntriesAreABrokenChainWithASentence) {
  const auto original = lines();
  struct Case {
    std::string name, line, expected;
  };
  const std::vector<Case> cases{
      {"not JSON", "not json", "chain.jsonl:2: not a chain entry: not JSON"},
      {"an array", "[1,2]", "chain.jsonl:2: not a chain entry: not a JSON object"},
      {"seq a string", R"({"seq":"2","run_id":"run-b","attestation":"run-b/attestation.dsse.json"})",
       "chain.jsonl:2: not a chain entry: \"seq\" must be a whole number from 1"},
      {"run_id a number", R"({"seq":2,"run_id":7,"attestation":"run-b/attestation.dsse.json"})",
       "chain.jsonl:2: not a chain entry: \"run_id\" must be a string"},
      {"prev an object",
       R"({"seq":2,"run_id":"run-b","attestation":"run-b/attestation.dsse.json","attestation_sha256":")" +
           std::string(64, 'a') + R"(","prev":{},"hash":")" + std::string(64, 'b') + "\"}",
       "chain.jsonl:2: not a chain entry: \"prev\" must be 64 lowercase hex digits"},
  };
  for (const auto& test : cases) {
    rewrite({original[0], test.line, original[2]});
    ChainCheck check;
    EXPECT_NO_THROW(check = verify_chain(dir_)) << test.name;
    EXPECT_FALSE(check.valid) << test.name;
    EXPECT_NE(check.reason.find(test.expected), std::string::npos) << test.name << ": " << check.reason;
    EXPECT_THROW(append_to_chain(dir_, "run-d", dir_ / "run-a" / "attestation.dsse.json"), ChainError) << test.name;
  }
}

// An entry's attestation path is confined to RUN/attestation.dsse.json, a regular file of
// bounded size inside the runs directory: /dev/zero once made verification read forever.
TEST_F(EvidenceChain, AnAttestationPathThatLeavesTheDirectoryOrIsNoRegularFileIsRefused) {
  auto with_attestation = [&](const std::string& path) {
    auto entry = nlohmann::json::parse(lines()[0]);
    entry["attestation"] = path;
    entry.erase("hash");
    entry["hash"] = sha256_hex(entry.dump());
    auto all = lines();
    all[0] = entry.dump();
    return all;
  };
  const auto original = lines();
  for (const auto& [path, expected] : std::vector<std::pair<std::string, std::string>>{
           {"/dev/zero", "attestation path '/dev/zero' is not RUN/attestation.dsse.json inside the runs directory"},
           {"../run-a/attestation.dsse.json", "is not RUN/attestation.dsse.json inside the runs directory"},
           {"run-a/../../etc/attestation.dsse.json", "is not RUN/attestation.dsse.json inside the runs directory"},
           {"run-a/report.json", "is not RUN/attestation.dsse.json inside the runs directory"}}) {
    rewrite(with_attestation(path));
    auto check = verify_chain(dir_);
    EXPECT_FALSE(check.valid) << path;
    EXPECT_NE(check.reason.find(expected), std::string::npos) << path << ": " << check.reason;
  }
  rewrite(original);

  fs::remove(dir_ / "run-a" / "attestation.dsse.json");
  fs::create_symlink("/dev/zero", dir_ / "run-a" / "attestation.dsse.json");
  auto link = verify_chain(dir_);
  EXPECT_FALSE(link.valid);
  EXPECT_NE(link.reason.find("is a symbolic link, not a regular file"), std::string::npos) << link.reason;

  fs::remove(dir_ / "run-a" / "attestation.dsse.json");
  ASSERT_EQ(::mkfifo((dir_ / "run-a" / "attestation.dsse.json").c_str(), 0600), 0);
  auto fifo = verify_chain(dir_);
  EXPECT_FALSE(fifo.valid);
  EXPECT_NE(fifo.reason.find("is not a regular file"), std::string::npos) << fifo.reason;

  fs::remove(dir_ / "run-a" / "attestation.dsse.json");
  fs::resize_file(dir_ / "run-b" / "attestation.dsse.json", max_attestation_bytes + 1);
  std::ofstream(dir_ / "run-a" / "attestation.dsse.json") << "{\"payload\":\"run-a\"}";
  auto big = verify_chain(dir_);
  EXPECT_FALSE(big.valid);
  EXPECT_NE(big.reason.find("bytes, more than the"), std::string::npos) << big.reason;
}

TEST_F(EvidenceChain, ATornLastLineIsRepairableAndRepairTruncatesIt) {
  auto whole = read_chain_text();
  std::ofstream(dir_ / "chain.jsonl", std::ios::trunc) << whole.substr(0, whole.size() - 5);
  auto torn = verify_chain(dir_);
  EXPECT_FALSE(torn.valid);
  EXPECT_TRUE(torn.repairable);
  EXPECT_NE(torn.reason.find("chain.jsonl:3: the last line is torn"), std::string::npos) << torn.reason;
  EXPECT_THROW(append_to_chain(dir_, "run-d", dir_ / "run-a" / "attestation.dsse.json"), ChainError)
      << "a plain append never writes behind a torn line";

  auto repair = repair_chain(dir_);
  EXPECT_EQ(repair.torn_bytes_removed, whole.size() - 5 - (whole.rfind('\n', whole.size() - 2) + 1));
  // run-c's attestation is not a signed Statement with an anchor: nothing ties it to the head.
  auto after = verify_chain(dir_);
  EXPECT_FALSE(after.valid);
  EXPECT_NE(after.reason.find("run-c/attestation.dsse.json is signed but not in the chain"), std::string::npos)
      << after.reason;
}

/// Signed runs in a runs directory, chained as `firedrill run` chains them.
class AnchoredChain : public ::testing::Test {
 protected:
  testing::ScratchDirectory scratch;
  SigningKey key = SigningKey::generate(KeyAlgorithm::ed25519);
  fs::path runs = scratch.path() / "runs";

  void SetUp() override {
    fs::create_directories(runs);
    for (const char* run : {"r1", "r2", "r3"})
      testing::write_signed_run(runs, run, "quickstart", "2026-11-02T10:00:00Z", true, 2.0, key);
  }
  fs::path new_run(const std::string& id) {
    fs::create_directories(runs / id);
    testing::write_run_directory(runs / id);
    auto report = nlohmann::json::parse(testing::read_file(runs / id / "report.json"));
    report["run_id"] = id;
    testing::write_file(runs / id / "report.json", report.dump(2));
    return runs / id;
  }
  std::vector<std::string> lines() {
    std::ifstream in(runs / "chain.jsonl");
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    return all;
  }
};

TEST_F(AnchoredChain, EachRunSignsTheHeadItExtends) {
  auto check = verify_chain(runs, {key.public_key()});
  EXPECT_TRUE(check.valid) << check.reason;
  EXPECT_EQ(check.anchors_checked, 3u);
  EXPECT_EQ(check.head_seq, 3u);
  EXPECT_EQ(check.head_hash, nlohmann::json::parse(lines()[2])["hash"]);
}

// The chain is unkeyed: whoever removes r2 can recompute every later hash. r3's signature still
// names the entry it followed.
TEST_F(AnchoredChain, AMiddleRunRemovedAndTheChainRecomputedIsCaughtByTheNextSignature) {
  auto all = lines();
  auto first = nlohmann::json::parse(all[0]);
  auto third = nlohmann::json::parse(all[2]);
  third["seq"] = 2;
  third["prev"] = first["hash"];
  third.erase("hash");
  third["hash"] = sha256_hex(third.dump());
  std::ofstream(runs / "chain.jsonl", std::ios::trunc) << all[0] << "\n" << third.dump() << "\n";
  fs::remove_all(runs / "r2");

  EXPECT_TRUE(verify_chain(runs).valid) << "without a key the rewrite is consistent";
  auto check = verify_chain(runs, {key.public_key()});
  EXPECT_FALSE(check.valid);
  EXPECT_NE(check.reason.find("entry 2 (line 2, run r3): its run signed that it extends entry 2 with hash"),
            std::string::npos)
      << check.reason;
}

TEST_F(AnchoredChain, APredicateSwappedBetweenEntriesIsCaught) {
  auto all = lines();
  auto second = nlohmann::json::parse(all[1]);
  second["attestation"] = "r3/attestation.dsse.json";
  second["attestation_sha256"] = sha256_file(runs / "r3" / "attestation.dsse.json");
  second.erase("hash");
  second["hash"] = sha256_hex(second.dump());
  auto third = nlohmann::json::parse(all[2]);
  third["attestation"] = "r2/attestation.dsse.json";
  third["attestation_sha256"] = sha256_file(runs / "r2" / "attestation.dsse.json");
  third["prev"] = second["hash"];
  third.erase("hash");
  third["hash"] = sha256_hex(third.dump());
  std::ofstream(runs / "chain.jsonl", std::ios::trunc) << all[0] << "\n" << second.dump() << "\n" << third.dump() << "\n";
  auto check = verify_chain(runs, {key.public_key()});
  EXPECT_FALSE(check.valid);
  EXPECT_NE(check.reason.find("is the signed statement of run \"r3\", not of run r2"), std::string::npos) << check.reason;
}

TEST_F(AnchoredChain, ARunSignedButNotChainedIsCompletedByRepairOrTheNextRun) {
  // What a kill between signing and chaining leaves: an attestation anchored to the head.
  auto r4 = new_run("r4");
  auto head = nlohmann::json::parse(lines().back());
  sign_run_directory(r4, key, ChainAnchor{4, head["hash"].get<std::string>()});
  auto pending = verify_chain(runs, {key.public_key()});
  EXPECT_FALSE(pending.valid);
  EXPECT_TRUE(pending.repairable);
  EXPECT_NE(pending.reason.find("r4/attestation.dsse.json is signed but not chained yet"), std::string::npos)
      << pending.reason;

  auto repair = repair_chain(runs, {key.public_key()});
  ASSERT_EQ(repair.completed.size(), 1u);
  auto check = verify_chain(runs, {key.public_key()});
  EXPECT_TRUE(check.valid) << check.reason;
  EXPECT_EQ(check.completed_after_crash, 1u);
  EXPECT_EQ(nlohmann::json::parse(lines().back())["completed_after_crash"], true);

  // The same through the next signed run.
  auto r5 = new_run("r5");
  sign_run_directory(r5, key, ChainAnchor{5, nlohmann::json::parse(lines().back())["hash"].get<std::string>()});
  auto next = sign_and_chain(runs, "r6", new_run("r6"), key);
  EXPECT_EQ(next.repair.completed, std::vector<std::string>{"r5"});
  EXPECT_EQ(next.entry["seq"], 6);
  EXPECT_TRUE(verify_chain(runs, {key.public_key()}).valid);
}

// kill -9 at each point of sign_and_chain, in a child process: the next signed run, or a
// repair, always leaves a chain that verifies.
TEST_F(AnchoredChain, AKillAtAnyPointOfSigningLeavesNothingATamperCheckCouldBlame) {
  int run_number = 10;
  for (const char* stage : {"locked", "signed", "chained"}) {
    for (bool through_repair : {false, true}) {
      auto id = "k" + std::to_string(run_number++);
      auto dir = new_run(id);
      pid_t child = ::fork();
      ASSERT_GE(child, 0);
      if (child == 0) {
        sign_and_chain(runs, id, dir, key, [&](std::string_view reached) {
          if (reached == stage) ::kill(::getpid(), SIGKILL);
        });
        ::_exit(0);
      }
      int status = 0;
      ASSERT_EQ(::waitpid(child, &status, 0), child);
      ASSERT_TRUE(WIFSIGNALED(status)) << stage;
      if (through_repair)
        repair_chain(runs, {key.public_key()});
      else
        sign_and_chain(runs, id + "-next", new_run(id + "-next"), key);
      auto check = verify_chain(runs, {key.public_key()});
      EXPECT_TRUE(check.valid) << "killed at " << stage << (through_repair ? ", then --repair: " : ", then the next run: ")
                               << check.reason;
    }
  }
}

}  // namespace
}  // namespace firedrill::attestation
