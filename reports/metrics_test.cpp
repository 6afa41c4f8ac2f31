// metrics.prom read back by a strict OpenMetrics text parser: what node_exporter's textfile
// collector and a Prometheus scrape would accept.
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "reports/registry.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

struct Family {
  std::string type, unit, help;
  std::map<std::string, double> samples;  // by label set, e.g. {scenario="x"}
};

/// Parses OpenMetrics text exposition (gauges and counters, as firedrill writes them). Throws
/// std::runtime_error with the line number on anything the format forbids.
std::map<std::string, Family> parse_openmetrics(const std::string& text) {
  static const std::regex metadata(R"(# (TYPE|UNIT|HELP) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  static const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+))");
  std::map<std::string, Family> families;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  bool eof = false;
  auto fail = [&](const std::string& why) { throw std::runtime_error("line " + std::to_string(number) + ": " + why + ": " + line); };
  while (std::getline(lines, line)) {
    ++number;
    if (eof) fail("content after # EOF");
    std::smatch match;
    if (line == "# EOF") {
      eof = true;
    } else if (std::regex_match(line, match, metadata)) {
      Family& family = families[match[2]];
      std::string& slot = match[1] == "TYPE" ? family.type : match[1] == "UNIT" ? family.unit : family.help;
      if (!slot.empty()) fail("repeated metadata");
      if (match[1] == "TYPE" && !family.samples.empty()) fail("TYPE after samples");
      slot = match[3];
    } else if (std::regex_match(line, match, sample)) {
      auto found = families.find(match[1]);
      if (found == families.end() || found->second.type.empty()) fail("sample without a # TYPE");
      std::size_t used = 0;
      double value = std::stod(match[3], &used);
      if (used != static_cast<std::size_t>(match[3].length())) fail("not a number");
      if (!found->second.samples.emplace(match[2], value).second) fail("duplicate sample");
    } else {
      fail("not OpenMetrics");
    }
  }
  if (!eof) throw std::runtime_error("no # EOF");
  if (text.empty() || text.back() != '\n') throw std::runtime_error("the last line is not terminated");
  for (const auto& [name, family] : families) {
    if (family.type != "gauge" && family.type != "counter") throw std::runtime_error(name + ": unexpected type " + family.type);
    if (!family.unit.empty() && !name.ends_with("_" + family.unit)) throw std::runtime_error(name + ": name must end with its unit");
  }
  return families;
}

nlohmann::json fixture_report() {
  std::ifstream in(std::filesystem::path(FIREDRILL_SOURCE_DIR) / "reports/testdata/run/report.json");
  return nlohmann::json::parse(in);
}

TEST(OpenMetricsText, TheFixtureRunsMetricsParseBackToTheMeasuredValues) {
  auto report = fixture_report();
  auto families = parse_openmetrics(render_openmetrics(report));
  const std::string scenario = R"({scenario="quickstart"})";
  EXPECT_EQ(families.at("firedrill_rto_seconds").unit, "seconds");
  EXPECT_EQ(families.at("firedrill_rpo_seconds").unit, "seconds");
  EXPECT_DOUBLE_EQ(families.at("firedrill_rto_seconds").samples.at(scenario), report["measured"]["rto_seconds"].get<double>());
  EXPECT_DOUBLE_EQ(families.at("firedrill_rpo_seconds").samples.at(scenario), report["measured"]["rpo_seconds"].get<double>());
  EXPECT_EQ(families.at("firedrill_lost_acked_writes").samples.at(scenario), 2);
  EXPECT_EQ(families.at("firedrill_drill_passed").samples.at(scenario), 0);
  for (const auto& [name, family] : families) {
    EXPECT_EQ(family.type, "gauge") << name;
    EXPECT_FALSE(family.help.empty()) << name;
    // Base units only: seconds, never ms.
    EXPECT_EQ(name.find("_ms"), std::string::npos) << name;
  }
}

TEST(OpenMetricsText, AScenarioNameNeedingEscapesStaysParseable) {
  auto report = fixture_report();
  report["scenario"]["name"] = "odd \"name\" \\ here";
  report["measured"]["rto_seconds"] = nullptr;
  auto families = parse_openmetrics(render_openmetrics(report));
  EXPECT_TRUE(families.at("firedrill_rto_seconds").samples.empty()) << "an unmeasured RTO has no sample, not a 0";
  EXPECT_EQ(families.at("firedrill_drill_passed").samples.count(R"({scenario="odd \"name\" \\ here"})"), 1u);
}

TEST(OpenMetricsText, TheParserRefusesWhatTheFormatForbids) {
  EXPECT_THROW(parse_openmetrics("# TYPE x gauge\nx 1\n"), std::runtime_error) << "no # EOF";
  EXPECT_THROW(parse_openmetrics("x 1\n# EOF\n"), std::runtime_error) << "no TYPE";
  EXPECT_THROW(parse_openmetrics("# TYPE x gauge\nx 1\n# EOF\nx 2\n"), std::runtime_error) << "after EOF";
  EXPECT_THROW(parse_openmetrics("# TYPE x_ms gauge\n# UNIT x_ms seconds\n# EOF\n"), std::runtime_error) << "unit mismatch";
}

TEST(OpenMetricsText, MetricsPromIsWrittenWithTheOtherFiles) {
  auto dir = std::filesystem::temp_directory_path() / "firedrill-metrics-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  write_report_files(dir, fixture_report());
  std::ifstream in(dir / "metrics.prom");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(std::filesystem::exists(dir / "metrics.prom.tmp"));
  std::filesystem::remove_all(dir);
  EXPECT_NO_THROW(parse_openmetrics(text));
}

}  // namespace
}  // namespace firedrill
