#pragma once
// The files a person or CI reads, each rendered from report.json and the history recorded beside
// it (so a saved run can be re-rendered). One writer per format, one registry.
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/history.hpp"
#include "checks/report.hpp"

namespace firedrill {

/// What every writer renders from: the report (read once from report.json) and the run's recorded
/// history. The history is empty when the run directory has no events.jsonl / acks.jsonl (a
/// report rendered on its own).
struct RunRecord {
  Report report;
  std::vector<Event> events;
  std::vector<Ack> acks;
  /// Ids of acknowledged writes that readback.jsonl does not hold (empty without a readback).
  std::set<std::string> lost_ack_ids;
};

/// The record of the run in run_dir: `report` read into its type, plus events.jsonl, acks.jsonl and readback.jsonl
/// where they exist. A malformed line throws std::runtime_error naming path:line.
RunRecord load_run_record(const std::filesystem::path& run_dir, const nlohmann::json& report);

void write_file_atomically(const std::filesystem::path& file, const std::string& content);

/// The junit.xml a run writes when it starts: well-formed and failing, so a harness that dies
/// before its report still leaves CI a JUnit file that says so. Replaced at the end of the run.
std::string render_unfinished_junit(const std::string& scenario, const std::string& run_id);

/// `::error` workflow commands for GitHub Actions, one per reason the drill failed.
std::string render_github_annotations(const Report& report);

std::string render_markdown_summary(const Report& report);
std::string render_openmetrics(const Report& report);

/// The terminal summary: objectives vs measured, verdict, where the files are.
std::string render_terminal_summary(const Report& report, const std::filesystem::path& run_dir, bool color);

/// A run's junit.xml: one testsuite, the testcases of junit_testcases.
std::string render_junit(const Report& report);

/// The testcases of one run, shared by its junit.xml and a suite's testsuite: "drill completed"
/// (or "drill failed as expected") failing with each reason, then one per check. A drill expected
/// to fail (`expect: fail`) is a passing test case when it fails: its failed checks are what it
/// exists to show, written as skipped with the reason; it fails only when `fault_did_not_bite`.
/// Every message starts with `message_prefix` ("run <id>: " in a suite), every name ends with
/// `name_suffix` (" #2" for a repetition).
struct JunitCases {
  std::string xml;
  int tests = 0, failures = 0;
};
JunitCases junit_testcases(const Report& report, const std::string& classname, bool fault_did_not_bite,
                           const std::string& message_prefix, const std::string& name_suffix);

/// "1.234s", "–" for null.
std::string format_seconds(const nlohmann::json& seconds);
std::string format_seconds(const std::optional<double>& seconds);
/// "42", "–" for null.
std::string format_count(const nlohmann::json& count);
std::string format_count(const std::optional<std::int64_t>& count);

/// PASS or FAIL, and against a drill's expectation of failing: "FAIL (expected)", or
/// "PASS (expected FAIL)" when the fault did not bite.
std::string verdict_words(const Report& report);

/// Text safe inside an XML attribute or element (control characters XML 1.0 forbids dropped).
std::string xml_escape(const std::string& text);

/// Text shown as itself in Markdown, inside a table cell or a list item: everything that could
/// start a link, an image, HTML, an autolink, an entity, a code span, a heading or a cell
/// backslash-escaped (| ` [ ] and the backslash always; < before a letter, /, ! or ?; & before a
/// letter or #; # first), line breaks folded to spaces, other control characters dropped.
std::string markdown_cell(const std::string& text);

/// A Markdown code span holding `text` literally, whatever backticks it holds.
std::string markdown_code(const std::string& text);

/// Text for a terminal: ANSI/ECMA-48 escape sequences (CSI, OSC, DCS and the like, 7- and 8-bit)
/// and control characters other than newline and tab removed, so bytes from a container cannot
/// move the cursor, retitle the window, write hyperlinks or the clipboard.
std::string terminal_text(const std::string& text);

/// A workflow command's message (GitHub's escaping: %, CR, LF) and a property value (also : and ,).
std::string github_command_data(const std::string& text);
std::string github_command_property(const std::string& text);

}  // namespace firedrill
