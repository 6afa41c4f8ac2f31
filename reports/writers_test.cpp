#include "reports/writers.hpp"

#include <algorithm>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

/// A drill that never got far: every measure is null, one reason, one failed check.
nlohmann::json failed_early_report() {
  return nlohmann::json::parse(R"json({
    "schema": "firedrill/report/v1", "run_id": "20261125-120000-abcd", "verdict": "fail",
    "scenario": {"name": "quickstart", "file": "scenarios/quickstart.yaml"},
    "started_at": "2026-11-25T12:00:00.000000Z",
    "reasons": ["service 'db' (postgres) never became ready within 90s: <refused> & \"quoted\""],
    "measured": {"rto_seconds": null, "rpo_seconds": null, "downtime_seconds": null, "detect_seconds": null,
                 "acked_writes": null, "lost_acked_writes": null},
    "components": {"overall": {"rto": {"measured_seconds": null, "target_seconds": 20.0, "met": false}}},
    "checks": [{"name": "rto(overall)", "passed": false, "detail": "not measured: no incident | yet"}]
  })json");
}

nlohmann::json passed_report() {
  auto report = failed_early_report();
  report["verdict"] = "pass";
  report["reasons"] = nlohmann::json::array();
  report["measured"] = {{"rto_seconds", 3.0125}, {"rpo_seconds", 0.0}, {"downtime_seconds", 2.5},
                        {"detect_seconds", 0.012}, {"acked_writes", 1180}, {"lost_acked_writes", 0}};
  report["components"]["overall"]["rto"] = {{"measured_seconds", 3.0125}, {"target_seconds", 20.0}, {"met", true}};
  report["checks"] = {{{"name", "rto(overall)"}, {"passed", true}, {"detail", "measured 3.013s <= target 20.000s"}}};
  return report;
}

TEST(ReportWriters, JunitOfADrillThatFailedEarlyIsEscapedAndCountsTheFailures) {
  std::string junit = render_junit(failed_early_report());
  EXPECT_NE(junit.find(R"(<testsuite name="quickstart" tests="2" failures="2" errors="0")"), std::string::npos) << junit;
  EXPECT_NE(junit.find("&lt;refused&gt; &amp; &quot;quoted&quot;"), std::string::npos) << junit;
  EXPECT_EQ(junit.rfind("</testsuites>\n"), junit.size() - 14);
}

TEST(ReportWriters, MarkdownShowsNullsAsDashesAndEscapesPipes) {
  std::string markdown = render_markdown_summary(failed_early_report());
  EXPECT_NE(markdown.find("### ❌ firedrill `quickstart` — FAIL"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| overall | – / 20.000s ❌ | – |"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("no incident \\| yet"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("Downtime –, detected after –, – acknowledged writes, – lost."), std::string::npos) << markdown;
}

TEST(ReportWriters, OpenMetricsOmitsUnmeasuredSamplesAndEndsWithEof) {
  std::string failed = render_openmetrics(failed_early_report());
  EXPECT_EQ(failed.find("firedrill_rto_seconds{"), std::string::npos);
  EXPECT_NE(failed.find("firedrill_drill_passed{scenario=\"quickstart\"} 0\n"), std::string::npos);
  std::string passed = render_openmetrics(passed_report());
  EXPECT_NE(passed.find("firedrill_rto_seconds{scenario=\"quickstart\"} 3.0125\n"), std::string::npos) << passed;
  EXPECT_NE(passed.find("firedrill_lost_acked_writes{scenario=\"quickstart\"} 0\n"), std::string::npos);
  EXPECT_EQ(passed.substr(passed.size() - 6), "# EOF\n");
}

TEST(ReportWriters, TerminalSummaryStatesVerdictObjectivesAndWhereTheReportIs) {
  std::string text = render_terminal_summary(passed_report(), "runs/x", false);
  EXPECT_NE(text.find("PASS  quickstart"), std::string::npos) << text;
  EXPECT_NE(text.find("3.013s / 20.000s ok"), std::string::npos) << text;
  EXPECT_NE(text.find("writes: 1180 acknowledged, 0 lost"), std::string::npos) << text;
  EXPECT_NE(text.find("report: runs/x/report.json"), std::string::npos);
  EXPECT_EQ(text.find("\033["), std::string::npos) << "no colour without a terminal";
}

TEST(ReportWriters, ADrillExpectedToFailSaysSoInTheTerminalAndTheMarkdown) {
  auto caught = failed_early_report();
  caught["expected"] = "fail";
  EXPECT_NE(render_terminal_summary(caught, "runs/x", false).find("FAIL (expected)  quickstart"), std::string::npos);
  EXPECT_NE(render_markdown_summary(caught).find("### ✅ firedrill `quickstart` — FAIL (expected)"), std::string::npos)
      << render_markdown_summary(caught);
  auto missed = passed_report();
  missed["expected"] = "fail";
  EXPECT_NE(render_terminal_summary(missed, "runs/x", false).find("PASS (expected FAIL)  quickstart"), std::string::npos);
  EXPECT_NE(render_markdown_summary(missed).find("### ❌ firedrill `quickstart` — PASS (expected FAIL)"), std::string::npos)
      << render_markdown_summary(missed);
}

TEST(ReportWriters, JunitOfADrillExpectedToFailPassesWhenItFailsAndFailsWhenItPasses) {
  auto caught = failed_early_report();
  caught["expected"] = "fail";
  std::string junit = render_junit(caught);
  EXPECT_NE(junit.find(R"(tests="2" failures="0")"), std::string::npos) << junit;
  EXPECT_NE(junit.find(R"(name="drill failed as expected")"), std::string::npos) << junit;
  EXPECT_NE(junit.find(R"(<skipped message="failed as expected: not measured: no incident | yet"/>)"), std::string::npos)
      << junit;
  auto missed = passed_report();
  missed["expected"] = "fail";
  junit = render_junit(missed);
  EXPECT_NE(junit.find(R"(tests="2" failures="1")"), std::string::npos) << junit;
  EXPECT_NE(junit.find("expected to fail but passed"), std::string::npos) << junit;
}

TEST(ReportWriters, TheJunitOfARunThatNeverFinishedIsWellFormedAndFailing) {
  std::string junit = render_unfinished_junit("quick<start>", "20261125-120000-abcd");
  EXPECT_EQ(junit.rfind("<?xml", 0), 0u);
  EXPECT_NE(junit.find(R"(<testsuite name="quick&lt;start&gt;" tests="1" failures="0" errors="1">)"), std::string::npos) << junit;
  EXPECT_NE(junit.find("run 20261125-120000-abcd did not finish"), std::string::npos);
  EXPECT_EQ(junit.substr(junit.size() - 14), "</testsuites>\n");
}

TEST(ReportWriters, GithubAnnotationsCarryEachReasonEscaped) {
  auto report = failed_early_report();
  report["reasons"].push_back("two\nlines at 100%");
  std::string annotations = render_github_annotations(report);
  EXPECT_NE(annotations.find("::error file=scenarios/quickstart.yaml,title=firedrill quickstart::service 'db'"),
            std::string::npos) << annotations;
  EXPECT_NE(annotations.find("::error file=scenarios/quickstart.yaml,title=firedrill quickstart::two%0Alines at 100%25\n"),
            std::string::npos) << annotations;
  EXPECT_EQ(render_github_annotations(passed_report()), "");
}

// Security review 2, L4: annotation properties went out unescaped, so a scenario name with a
// comma or "::" rewrote the command; Markdown escaped only pipes; container output reached the
// terminal with its escape sequences.
TEST(ReportWriters, AnnotationPropertiesAreEscapedAsGithubRequires) {
  auto report = failed_early_report();
  report["scenario"]["name"] = "x,file=/etc/passwd::owned\n::warning::y%";
  report["scenario"]["file"] = "a,b:c";
  const std::string annotations = render_github_annotations(report);
  EXPECT_EQ(annotations.substr(0, annotations.find("::", 2) + 2),
            "::error file=a%2Cb%3Ac,title=firedrill x%2Cfile=/etc/passwd%3A%3Aowned%0A%3A%3Awarning%3A%3Ay%25::")
      << annotations;
  EXPECT_EQ(std::count(annotations.begin(), annotations.end(), '\n'), 1) << annotations;
  EXPECT_EQ(github_command_data("50%\r\nok:,"), "50%25%0D%0Aok:,");
}

TEST(ReportWriters, MarkdownShowsEveryInjectedCharacterAsItself) {
  auto report = failed_early_report();
  report["scenario"]["name"] = "pg`) ![x](https://evil/p.png) <img src=x>";
  report["run_id"] = "id``x";
  report["reasons"] = {"# see [here](https://evil) <script>alert(1)</script> `code` &#x3C; &amp <!-- <= 2s\r\n| cell |"};
  const std::string markdown = render_markdown_summary(report);
  EXPECT_NE(markdown.find("### ❌ firedrill `` pg`) ![x](https://evil/p.png) <img src=x> `` — FAIL"), std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("Run ``` id``x ``` (scenarios/quickstart.yaml)."), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("- \\# see \\[here\\](https://evil) \\<script>alert(1)\\</script> \\`code\\` \\&#x3C; \\&amp "
                          "\\<!-- <= 2s  \\| cell \\|"),
            std::string::npos)
      << markdown;
  EXPECT_EQ(markdown_cell("a\x1b[31mb\\"), "a\\[31mb\\\\");
}

TEST(ReportWriters, TheTerminalSummaryDropsEscapeSequencesFromContainerText) {
  auto report = failed_early_report();
  report["reasons"] = {"db said \x1b[2J\x1b[1;1Hcleared \x1b]0;pwned title\x07" "and \x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\ "
                       "\xc2\x9b" "31mred\x07\x08 \xc3\xa9t\xc3\xa9"};
  report["checks"][0]["detail"] = "\x1b]52;c;Y2xpcGJvYXJk\x07" "copied";
  const std::string text = render_terminal_summary(report, "runs/x", false);
  EXPECT_NE(text.find("db said cleared and link 31mred été\n"), std::string::npos) << text;
  EXPECT_NE(text.find(": copied\n"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\x07'), std::string::npos) << text;
  // Colour, when asked for, is firedrill's own.
  EXPECT_NE(render_terminal_summary(report, "runs/x", true).find("\x1b[1;31mFAIL\x1b[0m"), std::string::npos);
}

TEST(ReportWriters, TheMarkdownSummaryStaysUnderGithubsLimit) {
  auto report = failed_early_report();
  for (int i = 0; i < 30000; ++i) report["reasons"].push_back(std::string(60, 'x'));
  std::string markdown = render_markdown_summary(report);
  EXPECT_LE(markdown.size(), 1u << 20);
  EXPECT_NE(markdown.find("summary cut at 1 MiB"), std::string::npos);
}

TEST(ReportWriters, SecondsAreFormattedForPeople) {
  EXPECT_EQ(format_seconds(nlohmann::json(0.012)), "12ms");
  EXPECT_EQ(format_seconds(nlohmann::json(3.0125)), "3.013s");
  EXPECT_EQ(format_seconds(nlohmann::json(754.0)), "12m34s");
  EXPECT_EQ(format_seconds(nlohmann::json(900.0)), "15m00s");
  EXPECT_EQ(format_seconds(nlohmann::json(300.0)), "5m00s");
  EXPECT_EQ(format_seconds(nlohmann::json(179.6)), "3m00s");
  EXPECT_EQ(format_seconds(nlohmann::json()), "–");
}

}  // namespace
}  // namespace firedrill
