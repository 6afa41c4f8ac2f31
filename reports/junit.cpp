// JUnit: a run's junit.xml and, through the same testcases, a suite's testsuites (suite.cpp).
#include <fmt/format.h>

#include "reports/writers.hpp"

namespace firedrill {

std::string render_unfinished_junit(const std::string& scenario, const std::string& run_id) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
      "  <testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"1\">\n"
      "    <testcase classname=\"{0}\" name=\"drill completed\">\n"
      "      <error message=\"run {1} did not finish: firedrill stopped before writing its report\"/>\n"
      "    </testcase>\n  </testsuite>\n</testsuites>\n",
      xml_escape(scenario), xml_escape(run_id));
}

JunitCases junit_testcases(const Report& report, const std::string& classname, bool fault_did_not_bite,
                           const std::string& message_prefix, const std::string& name_suffix) {
  JunitCases cases;
  auto testcase = [&](const std::string& name, const std::string& body) {
    ++cases.tests;
    cases.xml += fmt::format("    <testcase classname=\"{}\" name=\"{}\">\n{}    </testcase>\n", xml_escape(classname),
                             xml_escape(name + name_suffix), body);
  };
  const bool expected_to_fail = report.expects_failure();
  std::string completed;
  if (expected_to_fail && fault_did_not_bite)
    completed = "      <failure message=\"the drill was expected to fail but passed: the fault did not take effect\"/>\n";
  if (!expected_to_fail)
    for (const auto& reason : report.reasons)
      completed += fmt::format("      <failure message=\"{}\"/>\n", xml_escape(message_prefix + reason));
  if (!completed.empty()) ++cases.failures;
  testcase(expected_to_fail ? "drill failed as expected" : "drill completed", completed);
  for (const auto& check : report.checks) {
    std::string body;
    if (!check.passed()) {
      if (!expected_to_fail) ++cases.failures;
      body = fmt::format("      <{} message=\"{}\"/>\n", expected_to_fail ? "skipped" : "failure",
                         xml_escape(message_prefix + (expected_to_fail ? "failed as expected: " : "") + check.detail));
    }
    testcase(check.name, body);
  }
  return cases;
}

std::string render_junit(const Report& report) {
  const std::string& name = report.scenario.name;
  const JunitCases cases = junit_testcases(report, name, report.expects_failure() && report.passed(), "", "");
  // JUnit's timestamp is an xs:dateTime: a report without a start time leaves it out.
  const std::string& started = report.started_at;
  std::string text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n";
  text += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\"{}>\n", xml_escape(name), cases.tests,
                      cases.failures, started.empty() ? "" : fmt::format(" timestamp=\"{}\"", xml_escape(started)));
  text += cases.xml;
  text += "  </testsuite>\n</testsuites>\n";
  return text;
}

}  // namespace firedrill
