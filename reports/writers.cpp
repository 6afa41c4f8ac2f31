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

std::string objective_cell(const std::optional<ObjectiveResult>& objective, const char* met, const char* missed) {
  if (!objective) return "–";
  return fmt::format("{} / {} {}", format_seconds(objective->measured_seconds),
                     format_seconds(std::optional<double>(objective->target_seconds)), objective->met ? met : missed);
}

/// A measured figure as OpenMetrics writes it: as JSON writes the number.
nlohmann::json sample(const std::optional<double>& value) { return value ? nlohmann::json(*value) : nlohmann::json(); }
nlohmann::json sample(const std::optional<std::int64_t>& value) { return value ? nlohmann::json(*value) : nlohmann::json(); }

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

std::string verdict_words(const Report& report) {
  if (!report.expects_failure()) return report.passed() ? "PASS" : "FAIL";
  return report.passed() ? "PASS (expected FAIL)" : "FAIL (expected)";
}

std::string format_seconds(const nlohmann::json& seconds) {
  return format_seconds(seconds.is_number() ? std::optional<double>(seconds.get<double>()) : std::nullopt);
}

std::string format_seconds(const std::optional<double>& seconds) {
  if (!seconds) return "–";
  const double value = *seconds;
  if (value < 1) return fmt::format("{:.0f}ms", value * 1000);
  if (value < 120) return fmt::format("{:.3f}s", value);
  const auto whole_seconds = static_cast<long long>(std::llround(value));
  return fmt::format("{}m{:02}s", whole_seconds / 60, whole_seconds % 60);
}

std::string format_count(const nlohmann::json& count) { return count.is_number() ? count.dump() : "–"; }

std::string format_count(const std::optional<std::int64_t>& count) { return count ? std::to_string(*count) : "–"; }

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

RunRecord load_run_record(const std::filesystem::path& run_dir, const nlohmann::json& report) {
  RunRecord run;
  run.report = report_from_json(report);
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

std::string render_github_annotations(const Report& report) {
  std::string text;
  const std::string file = github_command_property(report.scenario.file);
  const std::string title = github_command_property("firedrill " + report.scenario.name);
  for (const auto& reason : report.reasons)
    text += fmt::format("::error file={},title={}::{}\n", file, title, github_command_data(reason));
  return text;
}

std::string render_markdown_summary(const Report& report) {
  std::string text = fmt::format("### {} firedrill {} — {}\n\n", report.passed() == !report.expects_failure() ? "✅" : "❌",
                                 markdown_code(report.scenario.name), verdict_words(report));
  text += "| component | RTO measured / target | RPO measured / target |\n|---|---|---|\n";
  for (const auto& [name, component] : report.components)
    text += fmt::format("| {} | {} | {} |\n", markdown_cell(name), objective_cell(component.rto, "✅", "❌"),
                        objective_cell(component.rpo, "✅", "❌"));
  const Measured& measured = report.measured;
  text += fmt::format("\nDowntime {}, detected after {}, {} acknowledged writes, {} lost.\n\n",
                      format_seconds(measured.downtime_seconds), format_seconds(measured.detect_seconds),
                      format_count(measured.acked_writes), format_count(measured.lost_acked_writes));
  text += "| check | result | detail |\n|---|---|---|\n";
  for (const auto& check : report.checks)
    text += fmt::format("| {} | {} | {} |\n", markdown_cell(check.name), check.passed() ? "pass" : "FAIL",
                        markdown_cell(check.detail));
  for (const auto& reason : report.reasons) text += fmt::format("\n- {}", markdown_cell(reason));
  text += fmt::format("\n\nRun {} ({}).\n", markdown_code(report.run_id), markdown_cell(report.scenario.file));
  // $GITHUB_STEP_SUMMARY refuses more than 1 MiB; a summary that long is cut, saying so.
  constexpr std::size_t step_summary_limit = 1 << 20;
  const std::string cut_note = "\n\n*(summary cut at 1 MiB; report.json has everything)*\n";
  if (text.size() > step_summary_limit) text = text.substr(0, step_summary_limit - cut_note.size()) + cut_note;
  return text;
}

std::string render_openmetrics(const Report& report) {
  std::string scenario = label_value(report.scenario.name);
  std::string text;
  auto gauge = [&](const std::string& metric, const std::string& help, const nlohmann::json& value) {
    text += fmt::format("# TYPE {} gauge\n", metric);
    // OpenMetrics: a family with a unit names it, and its name ends with it.
    if (metric.ends_with("_seconds")) text += fmt::format("# UNIT {} seconds\n", metric);
    text += fmt::format("# HELP {} {}\n", metric, help);
    if (value.is_number()) text += fmt::format("{}{{scenario=\"{}\"}} {}\n", metric, scenario, value.dump());
  };
  gauge("firedrill_rto_seconds", "Measured recovery time of the whole system.", sample(report.measured.rto_seconds));
  gauge("firedrill_rpo_seconds", "Measured recovery point (data loss window).", sample(report.measured.rpo_seconds));
  gauge("firedrill_lost_acked_writes", "Acknowledged writes missing after recovery.", sample(report.measured.lost_acked_writes));
  gauge("firedrill_drill_passed", "1 when every objective and check held.", report.passed() ? 1 : 0);
  return text + "# EOF\n";
}

std::string render_terminal_summary(const Report& report, const std::filesystem::path& run_dir, bool color) {
  auto paint = [&](const std::string& text, const char* code) {
    return color ? fmt::format("\033[{}m{}\033[0m", code, text) : text;
  };
  const bool as_expected = report.passed() == !report.expects_failure();
  // Names, details and reasons may carry bytes a container printed: shown without the escape
  // sequences a terminal would act on.
  std::string text = fmt::format("\n{}  {}\n", paint(verdict_words(report), as_expected ? "1;32" : "1;31"),
                                 terminal_text(report.scenario.name));
  text += fmt::format("  {:<12} {:>22} {:>22}\n", "component", "RTO measured/target", "RPO measured/target");
  for (const auto& [name, component] : report.components)
    text += fmt::format("  {:<12} {:>22} {:>22}\n", terminal_text(name), objective_cell(component.rto, "ok", "MISSED"),
                        objective_cell(component.rpo, "ok", "MISSED"));
  const Measured& measured = report.measured;
  text += fmt::format("  downtime {}, detected after {}; writes: {} acknowledged, {} lost\n",
                      format_seconds(measured.downtime_seconds), format_seconds(measured.detect_seconds),
                      format_count(measured.acked_writes), format_count(measured.lost_acked_writes));
  for (const auto& check : report.checks)
    text += fmt::format("  {} {}: {}\n", check.passed() ? paint("✓", "32") : paint("✗", "31"), terminal_text(check.name),
                        terminal_text(check.detail));
  for (const auto& reason : report.reasons) text += fmt::format("  {} {}\n", paint("!", "31"), terminal_text(reason));
  text += fmt::format("  report: {}\n", (run_dir / "report.json").string());
  return text;
}

}  // namespace firedrill
