// junit.xml against the JUnit schema CI servers document (reports/testdata/junit.xsd), checked
// by libxml2's validator (xmllint), not by our own reading of it.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "reports/writers.hpp"

namespace firedrill {
namespace {

const std::filesystem::path source_dir = FIREDRILL_SOURCE_DIR;
const std::filesystem::path schema = source_dir / "reports/testdata/junit.xsd";

struct Validation {
  bool valid = false;
  std::string output;
};

Validation validate(const std::string& document) {
  auto dir = std::filesystem::temp_directory_path() / ("firedrill-junit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "junit.xml", std::ios::binary) << document;
  std::string command = "xmllint --noout --schema '" + schema.string() + "' '" + (dir / "junit.xml").string() + "' >'" +
                        (dir / "out").string() + "' 2>&1";
  int status = std::system(command.c_str());
  Validation result;
  result.valid = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::ifstream out(dir / "out");
  result.output.assign(std::istreambuf_iterator<char>(out), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(dir);
  return result;
}

nlohmann::json fixture_report() {
  std::ifstream in(source_dir / "reports/testdata/run/report.json");
  return nlohmann::json::parse(in);
}

class JunitSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v xmllint >/dev/null 2>&1") != 0) GTEST_SKIP() << "xmllint is not installed (apt-get install libxml2-utils)";
  }
};

TEST_F(JunitSchema, AFailedDrillsJunitIsValid) {
  std::string junit = render_junit(fixture_report());
  ASSERT_NE(junit.find("<failure message="), std::string::npos);
  auto result = validate(junit);
  EXPECT_TRUE(result.valid) << result.output << junit;
}

TEST_F(JunitSchema, APassedDrillsJunitIsValid) {
  auto report = fixture_report();
  report["verdict"] = "pass";
  report["reasons"] = nlohmann::json::array();
  for (auto& check : report["checks"]) check["passed"] = true;
  std::string junit = render_junit(report);
  ASSERT_EQ(junit.find("<failure"), std::string::npos);
  auto result = validate(junit);
  EXPECT_TRUE(result.valid) << result.output << junit;
}

TEST_F(JunitSchema, TheJunitWrittenAtRunStartIsValid) {
  auto result = validate(render_unfinished_junit("quick<start> & \"co\"", "20261125-120000-abcd"));
  EXPECT_TRUE(result.valid) << result.output;
}

TEST_F(JunitSchema, AReportWithoutAStartTimeOrChecksIsStillValid) {
  nlohmann::json report = {{"scenario", {{"name", "early"}}}, {"checks", nlohmann::json::array()}, {"reasons", {"never ready\x01"}}};
  auto result = validate(render_junit(report));
  EXPECT_TRUE(result.valid) << result.output << render_junit(report);
}

// The validator must be able to say no, or the tests above prove nothing.
TEST_F(JunitSchema, TheSchemaRejectsWhatCiServersWouldNotRead) {
  std::string valid = render_junit(fixture_report());
  std::string nameless = valid;
  nameless.replace(nameless.find(" name=\"rto(overall)\""), 19, "");
  EXPECT_FALSE(validate(nameless).valid);
  std::string negative = valid;
  negative.replace(negative.find("tests=\"5\""), 9, "tests=\"-1\"");
  EXPECT_FALSE(validate(negative).valid);
  std::string misplaced = valid;
  misplaced.replace(misplaced.find("<testsuites>"), 12, "<testsuites><testcase name=\"x\"/>");
  EXPECT_FALSE(validate(misplaced).valid);
}

}  // namespace
}  // namespace firedrill
