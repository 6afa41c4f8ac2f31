// Loads every scenario of cases/ and checks it is rejected where and why its first line says:
//   # expect: <line>:<column>: <message substring>
// and within a second, so hostile input can neither hang nor crash the loader.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness/scenario/loader.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

Vocabulary corpus_vocabulary() {
  Vocabulary vocabulary;
  vocabulary.faults["kill"] = VerbSpec{
      "kill",
      "",
      true,
      {ParamSpec{"signal", ParamType::string, false, ""}, ParamSpec{"restart_after", ParamType::duration, false, ""}}};
  vocabulary.faults["pause"] = VerbSpec{"pause", "", true, {}};
  vocabulary.faults["partition"] = VerbSpec{
      "partition",
      "",
      true,
      {ParamSpec{"from", ParamType::service_list, false, ""}, ParamSpec{"loss", ParamType::percent, false, ""}}};
  vocabulary.faults["latency"] =
      VerbSpec{"latency",
               "",
               true,
               {ParamSpec{"delay", ParamType::duration, true, ""}, ParamSpec{"jitter", ParamType::number, false, ""},
                ParamSpec{"both_ways", ParamType::boolean, false, ""}}};
  vocabulary.actions["restart"] = VerbSpec{"restart", "", true, {ParamSpec{"grace", ParamType::duration, false, ""}}};
  vocabulary.actions["promote"] = VerbSpec{"promote", "", true, {}};
  vocabulary.actions["sql"] =
      VerbSpec{"sql",
               "",
               true,
               {ParamSpec{"query", ParamType::string, true, ""}, ParamSpec{"repeat", ParamType::integer, false, ""}}};
  vocabulary.checks["rto"] = VerbSpec{"rto", "", false, {}};
  vocabulary.checks["rpo"] = VerbSpec{"rpo", "", false, {}};
  vocabulary.checks["lost_acked_writes"] =
      VerbSpec{"lost_acked_writes", "", false, {ParamSpec{"max", ParamType::integer, false, ""}}};
  vocabulary.checks["integrity"] =
      VerbSpec{"integrity",
               "",
               false,
               {ParamSpec{"sql", ParamType::string, true, ""}, ParamSpec{"expect", ParamType::string, true, ""}}};
  return vocabulary;
}

struct Expectation {
  int line = 0;
  int column = 0;
  std::string message;
};

/// Reads "# expect: 12:5: text" from the first line; line 0 when the header is missing.
Expectation expectation_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string header;
  std::getline(in, header);
  const std::string prefix = "# expect: ";
  Expectation expected;
  if (header.rfind(prefix, 0) != 0) return expected;
  const std::string rest = header.substr(prefix.size());
  const std::size_t first_colon = rest.find(':');
  const std::size_t second_colon = rest.find(':', first_colon + 1);
  if (first_colon == std::string::npos || second_colon == std::string::npos) return expected;
  expected.line = std::stoi(rest.substr(0, first_colon));
  expected.column = std::stoi(rest.substr(first_colon + 1, second_colon - first_colon - 1));
  expected.message = rest.substr(std::min(second_colon + 2, rest.size()));
  return expected;
}

std::vector<std::string> corpus() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(FIREDRILL_MALFORMED_DIR))
    if (entry.is_regular_file()) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class MalformedScenario : public testing::TestWithParam<std::string> {};

TEST_P(MalformedScenario, IsRejectedWhereAndWhyItsHeaderSaysWithinASecond) {
  const fs::path file = fs::path(FIREDRILL_MALFORMED_DIR) / GetParam();
  const Expectation expected = expectation_of(file);
  ASSERT_GT(expected.line, 0) << file << " lacks a '# expect: <line>:<col>: <message>' first line";
  LoadOptions options{corpus_vocabulary(), {{"PORT", "5432"}}};
  const auto start = std::chrono::steady_clock::now();
  try {
    load_scenario(file, options);
    ADD_FAILURE() << file << " loaded without error";
  } catch (const ScenarioError& e) {
    ASSERT_FALSE(e.diagnostics().empty());
    const auto& first = e.diagnostics().front();
    EXPECT_EQ(first.where.file, file.string());
    EXPECT_EQ(first.where.line, expected.line) << e.what();
    EXPECT_EQ(first.where.column, expected.column) << e.what();
    EXPECT_NE(first.message.find(expected.message), std::string::npos) << "expected '" << expected.message << "' in:\n"
                                                                       << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(MalformedCorpus, HoldsAtLeastThirtyCases) { EXPECT_GE(corpus().size(), 30u); }

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param.substr(0, info.param.find('.'));
  std::replace_if(
      name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Cases, MalformedScenario, testing::ValuesIn(corpus()), test_name);

}  // namespace
}  // namespace firedrill
