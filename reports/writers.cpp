#include "reports/writers.hpp"

#include "checks/measure/analysis.hpp"
#include "core/vocabulary.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill {
namespace {

std::string label_value(const std::string& text) {
  std::string value;
  for (char c : text) value += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  return value;
}

std::string objective_cell(const nlohmann::json& objective) {
  if (!objective.is_object()) return "–";
  return fmt::format("{} / {} {}", format_seconds(objective.value("measured_seconds", nlohmann::json())),
                     format_seconds(objective.value("target_seconds", nlohmann::json())),
                     objective.value("met", false) ? "✅" : "❌");
}

bool expects_failure(const nlohmann::json& report) { return report.value("expected", "pass") == "fail"; }

/// PASS or FAIL, and against a drill's expectation of failing: "FAIL (expected)", or
/// "PASS (expected FAIL)" when the fault did not bite.
std::string verdict_words(const nlohmann::json& report) {
  const bool passed = report.value("verdict", "fail") == "pass";
  if (!expects_failure(report)) return passed ? "PASS" : "FAIL";
  return passed ? "PASS (expected FAIL)" : "FAIL (expected)";
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      case '\'': escaped += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters even when escaped.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') escaped += c;
    }
  }
  return escaped;
}

std::string markdown_cell(const std::string& text) {
  // Every character that could open markup that matters is backslash-escaped, which CommonMark
  // and GitHub render as itself: a link or image ([ ]), a code span (`), a table cell (|), the
  // escape itself, and where they could start one, HTML or an autolink (< before a letter, /, !
  // or ?), an entity (& before a letter or #) and a heading (# first). So "<= 20s" stays as it is.
  // Line breaks fold to spaces and other control characters go. Emphasis is left alone: it
  // changes how text looks, not what it is, and check names are full of underscores.
  std::string cell;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    const bool letter_next = std::isalpha(static_cast<unsigned char>(next)) != 0;
    if (c == '\n' || c == '\r' || c == '\t') {
      cell += ' ';
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) continue;
    const bool opens = c == '\\' || c == '`' || c == '[' || c == ']' || c == '|' ||
                       (c == '<' && (letter_next || next == '/' || next == '!' || next == '?')) ||
                       (c == '&' && (letter_next || next == '#')) || (c == '#' && cell.empty());
    if (opens) cell += '\\';
    cell += c;
  }
  return cell;
}

std::string markdown_code(const std::string& text) {
  // A code span shows its content literally; only a run of backticks as long as its fence could
  // end it, so the fence is one longer than the longest run inside.
  std::string content;
  std::size_t run = 0, longest = 0;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
    content += c;
  }
  const std::string fence(longest + 1, '`');
  const bool pad = longest > 0 || content.starts_with(' ') || content.ends_with(' ');
  return pad ? fence + " " + content + " " + fence : fence + content + fence;
}

std::string terminal_text(const std::string& text) {
  std::string shown;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b) {
      // ESC [ ... final (CSI), ESC ] ... BEL or ESC \ (OSC), and the like (P, X, ^, _ strings);
      // any other escape is two bytes.
      const char kind = i + 1 < text.size() ? text[i + 1] : '\0';
      if (kind == '[') {
        i += 2;
        while (i < text.size() && !(static_cast<unsigned char>(text[i]) >= 0x40 && static_cast<unsigned char>(text[i]) <= 0x7e)) ++i;
      } else if (kind == ']' || kind == 'P' || kind == 'X' || kind == '^' || kind == '_') {
        i += 2;
        while (i < text.size() && text[i] != '\a' && !(text[i] == 0x1b && i + 1 < text.size() && text[i + 1] == '\\')) ++i;
        if (i < text.size() && text[i] == 0x1b) ++i;
      } else {
        ++i;
      }
      continue;
    }
    // C1 controls as UTF-8 (U+0080..U+009F: 0xC2 0x80..0x9F), among them the 8-bit CSI and OSC.
    if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      ++i;
      continue;
    }
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) continue;
    shown += text[i];
  }
  return shown;
}

std::string format_seconds(const nlohmann::json& seconds) {
  if (!seconds.is_number()) return "–";
  double value = seconds.get<double>();
  if (value < 1) return fmt::format("{:.0f}ms", value * 1000);
  if (value < 120) return fmt::format("{:.3f}s", value);
  const auto whole_seconds = static_cast<long long>(std::llround(value));
  return fmt::format("{}m{:02}s", whole_seconds / 60, whole_seconds % 60);
}

std::string format_count(const nlohmann::json& count) { return count.is_number() ? count.dump() : "–"; }

void write_file_atomically(const std::filesystem::path& file, const std::string& content) {
  auto temporary = file;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc | std::ios::binary);
    out << content;
    out.flush();
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", temporary.string()));
  }
  std::filesystem::rename(temporary, file);
}

RunRecord load_run_record(const std::filesystem::path& run_dir, nlohmann::json report) {
  RunRecord run;
  run.report = std::move(report);
  if (std::filesystem::exists(run_dir / "events.jsonl")) run.events = read_events(run_dir / "events.jsonl");
  if (std::filesystem::exists(run_dir / "acks.jsonl")) run.acks = read_acks(run_dir / "acks.jsonl");
  if (std::filesystem::exists(run_dir / "readback.jsonl")) {
    Readback readback = read_readback(run_dir / "readback.jsonl");
    for (const auto& ack : run.acks) {
      auto writer = readback.writers.find(ack.writer);
      if (ack.outcome == WriteOutcome::ok && ack.acked && writer != readback.writers.end() && !writer->second.present.contains(ack.id)) run.lost_ack_ids.insert(ack.id);
    }
  }
  return run;
}

std::string render_unfinished_junit(const std::string& scenario, const std::string& run_id) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
      "  <testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"1\">\n"
      "    <testcase classname=\"{0}\" name=\"drill completed\">\n"
      "      <error message=\"run {1} did not finish: firedrill stopped before writing its report\"/>\n"
      "    </testcase>\n  </testsuite>\n</testsuites>\n",
      xml_escape(scenario), xml_escape(run_id));
}

std::string github_command_data(const std::string& text) {
  std::string escaped;
  for (char c : text) escaped += c == '%' ? std::string("%25") : c == '\r' ? std::string("%0D") : c == '\n' ? std::string("%0A") : std::string(1, c);
  return escaped;
}

std::string github_command_property(const std::string& text) {
  std::string escaped;
  for (char c : github_command_data(text)) escaped += c == ':' ? std::string("%3A") : c == ',' ? std::string("%2C") : std::string(1, c);
  return escaped;
}

std::string render_github_annotations(const nlohmann::json& report) {
  std::string text;
  const std::string file = github_command_property(report["scenario"].value("file", ""));
  const std::string title = github_command_property("firedrill " + report["scenario"].value("name", ""));
  for (const auto& reason : report.value("reasons", nlohmann::json::array()))
    text += fmt::format("::error file={},title={}::{}\n", file, title, github_command_data(reason.get<std::string>()));
  return text;
}

std::string render_markdown_summary(const nlohmann::json& report) {
  const auto& scenario = report["scenario"];
  bool passed = report.value("verdict", "fail") == "pass";
  std::string text = fmt::format("### {} firedrill {} — {}\n\n", passed == !expects_failure(report) ? "✅" : "❌",
                                 markdown_code(scenario.value("name", "")), verdict_words(report));
  text += "| component | RTO measured / target | RPO measured / target |\n|---|---|---|\n";
  for (const auto& [name, component] : report["components"].items())
    text += fmt::format("| {} | {} | {} |\n", markdown_cell(name), objective_cell(component.value("rto", nlohmann::json())),
                        objective_cell(component.value("rpo", nlohmann::json())));
  const auto& measured = report["measured"];
  text += fmt::format("\nDowntime {}, detected after {}, {} acknowledged writes, {} lost.\n\n",
                      format_seconds(measured.value("downtime_seconds", nlohmann::json())),
                      format_seconds(measured.value("detect_seconds", nlohmann::json())),
                      format_count(measured.value("acked_writes", nlohmann::json())),
                      format_count(measured.value("lost_acked_writes", nlohmann::json())));
  text += "| check | result | detail |\n|---|---|---|\n";
  for (const auto& check : report["checks"])
    text += fmt::format("| {} | {} | {} |\n", markdown_cell(check.value("name", "")), check.value("passed", false) ? "pass" : "FAIL",
                        markdown_cell(check.value("detail", "")));
  for (const auto& reason : report.value("reasons", nlohmann::json::array()))
    text += fmt::format("\n- {}", markdown_cell(reason.get<std::string>()));
  text += fmt::format("\n\nRun {} ({}).\n", markdown_code(report.value("run_id", "")), markdown_cell(scenario.value("file", "")));
  // $GITHUB_STEP_SUMMARY refuses more than 1 MiB; a summary that long is cut, saying so.
  constexpr std::size_t step_summary_limit = 1 << 20;
  const std::string cut_note = "\n\n*(summary cut at 1 MiB; report.json has everything)*\n";
  if (text.size() > step_summary_limit) text = text.substr(0, step_summary_limit - cut_note.size()) + cut_note;
  return text;
}

std::string render_junit(const nlohmann::json& report) {
  const auto& checks = report["checks"];
  // A drill expected to fail (`expect: fail`) is a passing test case when it fails: its failed
  // checks are what it exists to show, written as skipped with the reason; it fails only when
  // it passed (the fault did not bite). CI then agrees with the exit code.
  const bool expected_to_fail = expects_failure(report);
  const bool passed = report.value("verdict", "fail") == "pass";
  int failures = 0;
  if (!expected_to_fail)
    for (const auto& check : checks)
      if (!check.value("passed", false)) ++failures;
  const auto& reasons = report.value("reasons", nlohmann::json::array());
  const bool drill_failed = expected_to_fail ? passed : !reasons.empty();
  std::string name = report["scenario"].value("name", "");
  std::string text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n";
  // JUnit's timestamp is an xs:dateTime: a report without a start time leaves it out.
  std::string started = report.value("started_at", "");
  text += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\"{}>\n", xml_escape(name),
                      checks.size() + 1, failures + (drill_failed ? 1 : 0),
                      started.empty() ? "" : fmt::format(" timestamp=\"{}\"", xml_escape(started)));
  text += fmt::format("    <testcase classname=\"{}\" name=\"{}\">\n", xml_escape(name),
                      expected_to_fail ? "drill failed as expected" : "drill completed");
  if (expected_to_fail && passed)
    text += "      <failure message=\"the drill was expected to fail but passed: the fault did not take effect\"/>\n";
  if (!expected_to_fail)
    for (const auto& reason : reasons)
      text += fmt::format("      <failure message=\"{}\"/>\n", xml_escape(reason.get<std::string>()));
  text += "    </testcase>\n";
  for (const auto& check : checks) {
    text += fmt::format("    <testcase classname=\"{}\" name=\"{}\">\n", xml_escape(name), xml_escape(check.value("name", "")));
    if (!check.value("passed", false))
      text += fmt::format("      <{} message=\"{}{}\"/>\n", expected_to_fail ? "skipped" : "failure",
                          expected_to_fail ? "failed as expected: " : "", xml_escape(check.value("detail", "")));
    text += "    </testcase>\n";
  }
  text += "  </testsuite>\n</testsuites>\n";
  return text;
}

std::string render_openmetrics(const nlohmann::json& report) {
  std::string scenario = label_value(report["scenario"].value("name", ""));
  const auto& measured = report["measured"];
  std::string text;
  auto gauge = [&](const std::string& metric, const std::string& help, const nlohmann::json& value) {
    text += fmt::format("# TYPE {} gauge\n", metric);
    // OpenMetrics: a family with a unit names it, and its name ends with it.
    if (metric.ends_with("_seconds")) text += fmt::format("# UNIT {} seconds\n", metric);
    text += fmt::format("# HELP {} {}\n", metric, help);
    if (value.is_number()) text += fmt::format("{}{{scenario=\"{}\"}} {}\n", metric, scenario, value.dump());
  };
  gauge("firedrill_rto_seconds", "Measured recovery time of the whole system.", measured.value("rto_seconds", nlohmann::json()));
  gauge("firedrill_rpo_seconds", "Measured recovery point (data loss window).", measured.value("rpo_seconds", nlohmann::json()));
  gauge("firedrill_lost_acked_writes", "Acknowledged writes missing after recovery.",
        measured.value("lost_acked_writes", nlohmann::json()));
  gauge("firedrill_drill_passed", "1 when every objective and check held.", report.value("verdict", "") == "pass" ? 1 : 0);
  return text + "# EOF\n";
}

std::string render_terminal_summary(const nlohmann::json& report, const std::filesystem::path& run_dir, bool color) {
  bool passed = report.value("verdict", "fail") == "pass";
  auto paint = [&](const std::string& text, const char* code) {
    return color ? fmt::format("\033[{}m{}\033[0m", code, text) : text;
  };
  const bool as_expected = passed == !expects_failure(report);
  // Names, details and reasons may carry bytes a container printed: shown without the escape
  // sequences a terminal would act on.
  std::string text = fmt::format("\n{}  {}\n", paint(verdict_words(report), as_expected ? "1;32" : "1;31"),
                                 terminal_text(report["scenario"].value("name", "")));
  text += fmt::format("  {:<12} {:>22} {:>22}\n", "component", "RTO measured/target", "RPO measured/target");
  for (const auto& item : report["components"].items()) {
    // Not a structured binding: clang before 16 cannot capture one in the lambda.
    const auto& name = item.key();
    const auto& component = item.value();
    auto cell = [&](const char* key) {
      const auto& objective = component.value(key, nlohmann::json());
      if (!objective.is_object()) return std::string("–");
      return fmt::format("{} / {} {}", format_seconds(objective.value("measured_seconds", nlohmann::json())),
                         format_seconds(objective.value("target_seconds", nlohmann::json())),
                         objective.value("met", false) ? "ok" : "MISSED");
    };
    text += fmt::format("  {:<12} {:>22} {:>22}\n", terminal_text(name), cell("rto"), cell("rpo"));
  }
  const auto& measured = report["measured"];
  text += fmt::format("  downtime {}, detected after {}; writes: {} acknowledged, {} lost\n",
                      format_seconds(measured.value("downtime_seconds", nlohmann::json())),
                      format_seconds(measured.value("detect_seconds", nlohmann::json())),
                      format_count(measured.value("acked_writes", nlohmann::json())),
                      format_count(measured.value("lost_acked_writes", nlohmann::json())));
  for (const auto& check : report["checks"])
    text += fmt::format("  {} {}: {}\n", check.value("passed", false) ? paint("✓", "32") : paint("✗", "31"),
                        terminal_text(check.value("name", "")), terminal_text(check.value("detail", "")));
  for (const auto& reason : report.value("reasons", nlohmann::json::array()))
    text += fmt::format("  {} {}\n", paint("!", "31"), terminal_text(reason.get<std::string>()));
  text += fmt::format("  report: {}\n", (run_dir / "report.json").string());
  return text;
}

}  // namespace firedrill
