#include "harness/rehearse/screen.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace firedrill {
namespace {

constexpr const char* red = "\033[1;31m";
constexpr const char* green = "\033[32m";
constexpr const char* bold = "\033[1m";
constexpr const char* inverse = "\033[7m";
constexpr const char* reset = "\033[0m";

/// The first `columns` visible columns of `line` (escape sequences kept), with an ellipsis
/// when something was cut.
std::string clip(const std::string& line, std::size_t columns) {
  if (visible_width(line) <= columns) return line;
  std::string clipped;
  std::size_t used = 0;
  for (std::size_t i = 0; i < line.size();) {
    if (line[i] == '\033') {
      std::size_t end = i + 1;
      if (end < line.size() && line[end] == '[') {
        ++end;
        while (end < line.size() && !(line[end] >= '@' && line[end] <= '~')) ++end;
      }
      clipped += line.substr(i, end + 1 - i);
      i = end + 1;
      continue;
    }
    std::size_t length = 1;
    const auto lead = static_cast<unsigned char>(line[i]);
    if (lead >= 0xF0) length = 4;
    else if (lead >= 0xE0) length = 3;
    else if (lead >= 0xC0) length = 2;
    if (used + 1 >= columns) break;
    clipped += line.substr(i, length);
    ++used;
    i += length;
  }
  return clipped + "…" + reset;
}

/// Word-wraps plain text into lines of at most `columns`, each starting with `indent`.
std::vector<std::string> wrap_words(const std::string& text, std::size_t columns, const std::string& indent) {
  std::vector<std::string> lines;
  std::string line = indent;
  std::size_t position = 0;
  while (position < text.size()) {
    std::size_t end = text.find_first_of(" \n", position);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(position, end - position);
    const bool newline = end < text.size() && text[end] == '\n';
    if (visible_width(line) + word.size() + (line.size() > indent.size() ? 1 : 0) > columns && line.size() > indent.size()) {
      lines.push_back(line);
      line = indent;
    }
    if (line.size() > indent.size()) line += ' ';
    line += word;
    if (newline) {
      lines.push_back(line);
      line = indent;
    }
    position = end + 1;
  }
  if (line.size() > indent.size()) lines.push_back(line);
  return lines;
}

/// Wraps a command for pasting: at spaces outside quotes, every line but the last ending in
/// " \" (the shell's line continuation), `first` before the first line and `continuation`
/// before the others. A word longer than a line is cut where it must be, without a backslash.
std::vector<std::string> wrap_command(const std::string& command, std::size_t columns, const std::string& first,
                                      const std::string& continuation) {
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  for (char c : command) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == ' ') {
      if (!word.empty()) words.push_back(word);
      word.clear();
      continue;
    }
    word += c;
  }
  if (!word.empty()) words.push_back(word);

  std::vector<std::string> lines;
  std::string line = first;
  bool line_has_word = false;
  for (const auto& next : words) {
    const std::size_t with_word = line.size() + (line_has_word ? 1 : 0) + next.size();
    if (line_has_word && with_word + 2 > columns) {
      lines.push_back(line + " \\");
      line = continuation;
      line_has_word = false;
    }
    if (line_has_word) line += ' ';
    std::string rest = next;
    while (line.size() + rest.size() > columns && columns > line.size()) {
      const std::size_t room = columns - line.size();
      lines.push_back(line + rest.substr(0, room));
      rest.erase(0, room);
      line = continuation;
    }
    line += rest;
    line_has_word = true;
  }
  lines.push_back(line);
  return lines;
}

std::string pad(const std::string& line, std::size_t columns) {
  std::size_t width = visible_width(line);
  return width >= columns ? line : line + std::string(columns - width, ' ');
}

std::string rate_text(double per_second) { return fmt::format("{:.0f}/s", per_second); }

}  // namespace

std::size_t visible_width(const std::string& line) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\033') {
      std::size_t end = i + 1;
      if (end < line.size() && line[end] == '[') {
        ++end;
        while (end < line.size() && !(line[end] >= '@' && line[end] <= '~')) ++end;
      }
      i = end;
      continue;
    }
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string strip_ansi(const std::string& line) {
  std::string plain;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\033') {
      std::size_t end = i + 1;
      if (end < line.size() && line[end] == '[') {
        ++end;
        while (end < line.size() && !(line[end] >= '@' && line[end] <= '~')) ++end;
      }
      i = end;
      continue;
    }
    plain += line[i];
  }
  return plain;
}

std::string clock_text(Micros elapsed) {
  const bool negative = elapsed < 0;
  const Micros tenths = (negative ? -elapsed : elapsed) / 100'000;
  const Micros seconds = tenths / 10;
  std::string text = seconds >= 3600 ? fmt::format("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
                                     : fmt::format("{}:{:02}.{}", seconds / 60, seconds % 60, tenths % 10);
  return negative ? "-" + text : text;
}

std::string event_line(const Event& event, Micros since) {
  auto text = [&](const char* key) {
    auto found = event.details.find(key);
    return found != event.details.end() && found->is_string() ? found->get<std::string>() : std::string();
  };
  std::string what;
  if (event.kind == event_kind::probe) {
    const bool up = event.details.value("ok", event.details.value("up", false));
    what = fmt::format("probe {} {}", text("probe").empty() ? text("name") : text("probe"), up ? "up" : "DOWN");
  } else if (event.kind == event_kind::step_started) {
    what = fmt::format("step '{}' started", text("step"));
  } else if (event.kind == event_kind::step_finished) {
    what = fmt::format("step '{}' {}", text("step"), text("outcome"));
  } else if (event.kind == event_kind::fault_injected) {
    what = fmt::format("fault {} on {}", text("fault"), text("target"));
  } else if (event.kind == event_kind::incident) {
    what = "INCIDENT (T0): the RTO clock starts";
  } else {
    what = event.kind;
    for (const char* key : {"service", "target", "writer"})
      if (!text(key).empty()) {
        what += " " + text(key);
        break;
      }
  }
  return fmt::format("{:>8} {}", clock_text(event.t - since), what);
}

std::vector<std::string> render_screen(const ScreenState& state, int width_in, int height_in) {
  const std::size_t width = static_cast<std::size_t>(std::max(width_in, 40));
  const std::size_t height = static_cast<std::size_t>(std::max(height_in, 12));
  std::vector<std::string> top, middle, bottom;

  std::string title = fmt::format(" rehearsal · {} · {}", state.scenario, state.run_id);
  top.push_back(std::string(inverse) + pad(clip(title, width - 12), width - 12) + pad(state.phase, 12) + reset);

  if (state.incident_at) {
    const Micros end = state.recovered_at.value_or(state.now);
    const Micros elapsed = end - *state.incident_at;
    const bool over = state.rto_target && elapsed > state.rto_target->count();
    std::string line = fmt::format("{}RTO {}{}", over ? red : bold, clock_text(elapsed), reset);
    line += state.recovered_at ? fmt::format("  {}recovered{} (clock stopped)", green, reset) : "  since the incident";
    if (state.rto_target) line += fmt::format("   target {}", clock_text(state.rto_target->count()));
    top.push_back(line);
  } else {
    top.push_back(fmt::format("{}RTO --:--.-{}  the clock starts at the incident", bold, reset));
  }
  top.push_back("");

  if (state.step_name.empty()) {
    top.push_back(state.phase == "finishing" ? "Steps over: reverting faults, reading back, tearing down."
                                             : "Bringing the environment up; the steps start once every probe answers.");
    top.push_back("");
  } else {
    top.push_back(clip(fmt::format("{}Step {}/{}{} · {}{}", bold, state.step_index + 1, state.step_count, reset, state.step_name,
                                   state.human ? "   [your step]" : "   [automated]"),
                       width));
    const Micros elapsed = state.now - state.step_started;
    std::string timing = fmt::format("  elapsed {}", clock_text(elapsed));
    if (state.budget) {
      const Micros budget = state.budget->count();
      if (elapsed > budget)
        timing += fmt::format("  {}budget {} OVER by {}{}", red, clock_text(budget), clock_text(elapsed - budget), reset);
      else
        timing += fmt::format("  budget {} ({} left)", clock_text(budget), clock_text(budget - elapsed));
    } else if (state.human) {
      timing += "  (no budget)";
    }
    top.push_back(timing);
  }

  if (state.help) {
    for (const char* line : {"Keys:", "  Enter  the current step is done (the clock of the step stops)",
                             "  s      skip the current step (recorded as skipped)",
                             "  r      let firedrill perform the step's action for you (action steps)",
                             "  a      abort: revert every fault, tear down, exit 130 (as Ctrl-C)",
                             "  ?      show / hide this help",
                             "A step with 'done by itself when' completes without Enter.",
                             "The report records each step's time against its budget."})
      middle.push_back(line);
  } else if (state.human) {
    for (auto& line : wrap_words(state.instruction, width, "  ")) middle.push_back(line);
    if (!state.until.empty())
      for (auto& line : wrap_words("Done by itself when " + state.until + ".", width, "  ")) middle.push_back(line);
    for (const auto& command : state.commands)
      for (auto& line : wrap_command(command, width, "  $ ", "      ")) middle.push_back(line);
  }

  std::string probes = "Probes ";
  for (const auto& [name, up] : state.probes)
    probes += fmt::format(" {}{} {}{}", up ? green : red, name, up ? "up" : "DOWN", reset);
  if (state.probes.empty()) probes += " (not started)";
  bottom.push_back(clip(probes, width));
  bottom.push_back(clip(fmt::format("Writes  acked {}  {}failing {}{}   (total {} acked, {} failed)",
                                    rate_text(state.acked_per_second), state.failed_per_second > 0 ? red : "",
                                    rate_text(state.failed_per_second), state.failed_per_second > 0 ? reset : "",
                                    state.acked, state.failed),
                        width));
  std::string keys = state.human ? (state.automatable ? "Enter done · s skip · r firedrill does it · a abort · ? help"
                                                      : "Enter done · s skip · a abort · ? help")
                                 : "a abort · ? help";

  // The events take what the step leaves, at least three lines; the step's text gives way.
  const std::size_t fixed = top.size() + bottom.size() + 2 /* events header, keys */;
  const std::size_t minimum_events = 3;
  const std::size_t middle_room = height > fixed + minimum_events ? height - fixed - minimum_events : 0;
  if (middle.size() > middle_room) {
    middle.resize(middle_room);
    if (middle_room > 0) middle.back() = "  … (the terminal is too small to show the rest)";
  }
  const std::size_t event_room = height - fixed - middle.size();

  std::vector<std::string> lines = top;
  lines.insert(lines.end(), middle.begin(), middle.end());
  lines.push_back(std::string(bold) + "Events" + reset);
  // The incident stays in view once it happened: the RTO clock above counts from it, and later
  // events (probes flapping, the harness's own scheduling) must not scroll it away.
  const auto incident = std::find_if(state.last_events.begin(), state.last_events.end(),
                                     [](const std::string& line) { return line.find("INCIDENT (T0)") != std::string::npos; });
  std::size_t first = state.last_events.size() > event_room ? state.last_events.size() - event_room : 0;
  const auto incident_at = static_cast<std::size_t>(incident - state.last_events.begin());
  if (incident != state.last_events.end() && incident_at < first && event_room > 1) {
    lines.push_back(clip(*incident, width));
    ++first;
  }
  for (std::size_t i = first; i < state.last_events.size(); ++i) lines.push_back(clip(state.last_events[i], width));
  while (lines.size() < height - bottom.size() - 1) lines.push_back("");
  lines.insert(lines.end(), bottom.begin(), bottom.end());
  lines.push_back(std::string(inverse) + pad(clip(" " + keys, width), width) + reset);
  for (auto& line : lines) line = clip(line, width);
  lines.resize(height);
  return lines;
}

}  // namespace firedrill
