#include "reports/attestation/chain.hpp"

#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

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
  EXPECT_THROW(verify_chain(dir_), std::runtime_error);
  std::ofstream(dir_ / "chain.jsonl") << "not json\n";
  EXPECT_THROW(verify_chain(dir_), std::runtime_error);
}

}  // namespace
}  // namespace firedrill::attestation
