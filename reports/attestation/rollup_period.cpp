// Periods and timestamps of roll-ups: a month, a quarter, a year or a range of days as a half-open
// interval of UTC time, and RFC 3339 read and written. The same UTC calendar cuts a policy's
// months, quarters and years into windows (rollup_policy.cpp).
#include "reports/attestation/rollup.hpp"

#include <ctime>
#include <regex>

#include <fmt/format.h>

#include "reports/attestation/rollup_internal.hpp"

namespace firedrill::attestation {

std::int64_t utc_seconds(int year, int month, int day) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  return static_cast<std::int64_t>(::timegm(&tm));
}

std::tm utc_tm(std::int64_t seconds) {
  auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return tm;
}

std::int64_t add_months(std::int64_t seconds, int months) {
  auto tm = utc_tm(seconds);
  int index = tm.tm_mon + months;
  return utc_seconds(tm.tm_year + 1900 + index / 12, index % 12 + 1, 1);
}

namespace {

const char* const period_forms =
    "expected YYYY-MM (a month), YYYY-Qn (a quarter), YYYY (a year) or YYYY-MM-DD..YYYY-MM-DD (days, both included)";

std::int64_t parse_day(const std::string& text, std::string_view whole) {
  static const std::regex day_form(R"((\d{4})-(\d{2})-(\d{2}))");
  std::smatch match;
  if (!std::regex_match(text, match, day_form))
    throw RollupInputError(fmt::format("period '{}': '{}' is not a day YYYY-MM-DD; {}", whole, text, period_forms));
  int year = std::stoi(match[1]), month = std::stoi(match[2]), day = std::stoi(match[3]);
  auto seconds = utc_seconds(year, month, day);
  auto tm = utc_tm(seconds);
  if (month < 1 || month > 12 || tm.tm_mday != day || tm.tm_mon != month - 1)
    throw RollupInputError(fmt::format("period '{}': {} is not a day of the calendar", whole, text));
  return seconds;
}

}  // namespace

Period parse_period(std::string_view text) {
  std::string value(text);
  static const std::regex year_form(R"((\d{4}))"), month_form(R"((\d{4})-(\d{2}))"),
      quarter_form(R"((\d{4})-[Qq]([1-4]))"), range_form(R"(([^.]*)\.\.([^.]*))");
  std::smatch match;
  Period period;
  period.label = value;
  if (std::regex_match(value, match, year_form)) {
    period.from = utc_seconds(std::stoi(match[1]), 1, 1);
    period.to = add_months(period.from, 12);
  } else if (std::regex_match(value, match, month_form)) {
    int month = std::stoi(match[2]);
    if (month < 1 || month > 12)
      throw RollupInputError(fmt::format("period '{}': month {} is not 01..12", value, match[2].str()));
    period.from = utc_seconds(std::stoi(match[1]), month, 1);
    period.to = add_months(period.from, 1);
  } else if (std::regex_match(value, match, quarter_form)) {
    period.from = utc_seconds(std::stoi(match[1]), (std::stoi(match[2]) - 1) * 3 + 1, 1);
    period.to = add_months(period.from, 3);
  } else if (std::regex_match(value, match, range_form)) {
    period.from = parse_day(match[1], value);
    period.to = parse_day(match[2], value) + 24 * 3600;
    if (period.to <= period.from)
      throw RollupInputError(fmt::format("period '{}': ends before it starts", value));
  } else {
    throw RollupInputError(fmt::format("period '{}' not understood: {}", value, period_forms));
  }
  return period;
}

std::optional<std::int64_t> parse_timestamp(std::string_view text) {
  static const std::regex form(
      R"((\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2})))");
  std::string value(text);
  std::smatch match;
  if (!std::regex_match(value, match, form)) return std::nullopt;
  int month = std::stoi(match[2]), day = std::stoi(match[3]);
  int hour = std::stoi(match[4]), minute = std::stoi(match[5]), second = std::stoi(match[6]);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  auto seconds = utc_seconds(std::stoi(match[1]), month, day) + hour * 3600 + minute * 60 + second;
  if (match[9].matched) {
    auto offset = std::stoi(match[10]) * 3600 + std::stoi(match[11]) * 60;
    seconds += match[9] == "+" ? -offset : offset;
  }
  return seconds;
}

std::string format_timestamp(std::int64_t seconds) {
  auto tm = utc_tm(seconds);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec);
}

}  // namespace firedrill::attestation
