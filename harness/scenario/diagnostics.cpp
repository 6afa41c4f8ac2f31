#include "harness/scenario/diagnostics.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace firedrill::scenario_yaml {
namespace {

// Longer source lines are shown as a window around the column.
constexpr std::size_t max_shown_chars = 160;
constexpr std::size_t max_message_bytes = 400;

std::string_view line_of(std::string_view text, int line) {
  std::size_t begin = 0;
  for (int n = 1; n < line; ++n) {
    const std::size_t newline = text.find('\n', begin);
    if (newline == std::string_view::npos) return {};
    begin = newline + 1;
  }
  std::size_t end = text.find('\n', begin);
  if (end == std::string_view::npos) end = text.size();
  std::string_view result = text.substr(begin, end - begin);
  if (!result.empty() && result.back() == '\r') result.remove_suffix(1);
  return result;
}

}  // namespace

ScenarioError::Diagnostic make_diagnostic(std::string_view text, const std::string& file, const Failure& failure) {
  ScenarioError::Diagnostic diagnostic;
  diagnostic.where = SourceLocation{file, failure.where.line, failure.where.column};
  diagnostic.message = failure.message;
  // A message quoting a huge value would bury the line it is about.
  if (diagnostic.message.size() > max_message_bytes) {
    std::size_t cut = max_message_bytes;
    while (cut > 0 && (static_cast<unsigned char>(diagnostic.message[cut]) & 0xC0) == 0x80) --cut;
    diagnostic.message = diagnostic.message.substr(0, cut) + "...";
  }
  const std::string_view line = line_of(text, failure.where.line);
  std::vector<std::string> chars;
  std::size_t caret = 0;
  const std::size_t column_byte = static_cast<std::size_t>(std::max(failure.where.column, 1) - 1);
  for (std::size_t i = 0; i < line.size();) {
    if (i <= column_byte) caret = chars.size();
    const std::size_t length = utf8_length(line, i);
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if (length == 0 || c < 0x20 || c == 0x7f) {
      chars.emplace_back(c == '\t' ? " " : "?");
      i += std::max<std::size_t>(length, 1);
    } else {
      chars.emplace_back(line.substr(i, length));
      i += length;
    }
  }
  if (column_byte >= line.size()) caret = chars.size();
  std::size_t first = 0, last = chars.size();
  if (chars.size() > max_shown_chars) {
    const std::size_t width = max_shown_chars - 6;  // room for an ellipsis on each side
    first = caret > width / 2 ? std::min(caret - width / 2, chars.size() - width) : 0;
    last = first + width;
  }
  std::string shown = first > 0 ? "..." : "";
  for (std::size_t k = first; k < last; ++k) shown += chars[k];
  if (last < chars.size()) shown += "...";
  diagnostic.source_line = shown;
  diagnostic.caret = caret - first + (first > 0 ? 3 : 0);
  return diagnostic;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  std::size_t best_distance = 3;
  for (const auto& candidate : candidates) {
    const std::size_t longer = std::max(word.size(), candidate.size());
    const std::size_t shorter = std::min(word.size(), candidate.size());
    if (longer - shorter > 2) continue;
    const std::size_t distance = edit_distance(word, candidate);
    if (distance < best_distance && distance < longer) {
      best = &candidate;
      best_distance = distance;
    }
  }
  return best ? fmt::format(" (did you mean '{}'?)", *best) : std::string();
}

std::string join(const std::vector<std::string>& words, std::string_view last_separator) {
  std::string text;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) text += i + 1 == words.size() ? last_separator : ", ";
    text += words[i];
  }
  return text;
}

}  // namespace firedrill::scenario_yaml
