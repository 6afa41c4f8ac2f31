#include "core/duration.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

namespace firedrill {
namespace {

constexpr const char* accepted_durations =
    "expected a number and a unit (us, ms, s, m or h), like 250ms, 5s, 2m, 1h, 1.5s or 1h30m";
constexpr double max_rate_per_second = 1'000'000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::int64_t unit_micros(std::string_view unit) {
  if (unit == "us") return 1;
  if (unit == "ms") return 1'000;
  if (unit == "s") return 1'000'000;
  if (unit == "m") return 60'000'000;
  if (unit == "h") return 3'600'000'000;
  return 0;
}

/// "1.25" with its trailing zeros (and a bare point) removed from `value / scale`.
std::string decimal(std::int64_t value, std::int64_t scale) {
  std::string text = std::to_string(value / scale);
  std::int64_t fraction = value % scale;
  if (fraction == 0) return text;
  std::string digits = std::to_string(fraction);
  std::string padded = std::string(std::to_string(scale).size() - 1 - digits.size(), '0') + digits;
  while (!padded.empty() && padded.back() == '0') padded.pop_back();
  return text + "." + padded;
}

}  // namespace

Duration parse_duration(std::string_view text) {
  auto invalid = [&] {
    return std::invalid_argument(fmt::format("invalid duration '{}': {}", text, accepted_durations));
  };
  auto out_of_range = [&] {
    return std::invalid_argument(
        fmt::format("duration '{}' is out of range (at most {})", text, format_duration(max_scenario_duration)));
  };
  if (text.empty()) throw invalid();
  const std::int64_t max_micros = max_scenario_duration.count();
  std::int64_t total = 0;
  bool too_large = false;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t integer_begin = i;
    while (i < text.size() && text[i] == '0') ++i;
    std::size_t significant_begin = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    if (i == integer_begin) throw invalid();
    std::string_view significant = text.substr(significant_begin, i - significant_begin);
    std::string_view fraction;
    if (i < text.size() && text[i] == '.') {
      std::size_t fraction_begin = ++i;
      while (i < text.size() && is_digit(text[i])) ++i;
      fraction = text.substr(fraction_begin, i - fraction_begin);
      if (fraction.empty()) throw invalid();
    }
    std::size_t unit_begin = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    const std::int64_t unit = unit_micros(text.substr(unit_begin, i - unit_begin));
    if (unit == 0) throw invalid();
    if (too_large) continue;
    // 13 significant digits exceed the limit in every unit, and keep the arithmetic below exact.
    if (significant.size() > 12) {
      too_large = true;
      continue;
    }
    const std::int64_t whole = significant.empty() ? 0 : std::stoll(std::string(significant));
    if (whole > max_micros / unit) {
      too_large = true;
      continue;
    }
    std::int64_t value = whole * unit;
    if (!fraction.empty()) {
      std::string_view kept = fraction.substr(0, 9);
      std::int64_t numerator = std::stoll(std::string(kept));
      std::int64_t denominator = 1;
      for (std::size_t d = 0; d < kept.size(); ++d) denominator *= 10;
      value += (numerator * unit + denominator / 2) / denominator;
    }
    total += value;
    if (total > max_micros) too_large = true;
  }
  if (too_large) throw out_of_range();
  return Duration(total);
}

std::string format_duration(Duration d) {
  std::int64_t us = d.count();
  if (us < 0) return "-" + format_duration(Duration(-us));
  if (us == 0) return "0s";
  if (us < 1'000) return std::to_string(us) + "us";
  if (us < 1'000'000) return decimal(us, 1'000) + "ms";
  if (us < 60'000'000) return decimal(us, 1'000'000) + "s";
  std::string text;
  const std::int64_t hours = us / 3'600'000'000;
  us %= 3'600'000'000;
  const std::int64_t minutes = us / 60'000'000;
  us %= 60'000'000;
  if (hours > 0) text += std::to_string(hours) + "h";
  if (minutes > 0) text += std::to_string(minutes) + "m";
  if (us > 0) text += decimal(us, 1'000'000) + "s";
  return text;
}

double parse_rate(std::string_view text) {
  auto invalid = [&] {
    return std::invalid_argument(
        fmt::format("invalid rate '{}': expected a number of writes per second, minute or hour, like "
                    "200/s, 30/m or 3600/h, or 'max' for as fast as possible",
                    text));
  };
  if (text == "max") return 0;
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) throw invalid();
  std::string_view number = text.substr(0, slash);
  std::string_view unit = text.substr(slash + 1);
  double seconds = 0;
  if (unit == "s")
    seconds = 1;
  else if (unit == "m")
    seconds = 60;
  else if (unit == "h")
    seconds = 3600;
  else
    throw invalid();
  std::size_t i = 0;
  while (i < number.size() && is_digit(number[i])) ++i;
  if (i == 0) throw invalid();
  if (i < number.size() && number[i] == '.') {
    std::size_t fraction_begin = ++i;
    while (i < number.size() && is_digit(number[i])) ++i;
    if (i == fraction_begin) throw invalid();
  }
  if (i != number.size()) throw invalid();
  const double per_second = std::strtod(std::string(number).c_str(), nullptr) / seconds;
  if (per_second <= 0)
    throw std::invalid_argument(fmt::format("rate '{}' is zero: write a positive rate, or 'max'", text));
  if (per_second > max_rate_per_second)
    throw std::invalid_argument(fmt::format("rate '{}' is out of range (at most 1000000/s)", text));
  return per_second;
}

}  // namespace firedrill
