#include "checks/history.hpp"

#include <functional>

#include <cctype>
#include <stdexcept>

#include <fmt/format.h>

#include "core/utf8.hpp"

namespace firedrill {

const char* to_string(WriteOutcome outcome) {
  switch (outcome) {
    case WriteOutcome::ok: return "ok";
    case WriteOutcome::error: return "error";
    case WriteOutcome::timeout: return "timeout";
  }
  return "error";
}

namespace {

constexpr std::int64_t micros_per_second = 1'000'000;
constexpr std::int64_t seconds_per_day = 86'400;

// Howard Hinnant's civil-calendar algorithms: exact for the proleptic Gregorian calendar and
// independent of the process's time zone.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

[[noreturn]] void bad_time(const std::string& text, const char* why) {
  throw std::invalid_argument(fmt::format("invalid RFC 3339 time '{}': {}", text, why));
}

Micros micros_field(const nlohmann::json& line, const char* key) {
  const auto it = line.find(key);
  if (it == line.end()) throw std::invalid_argument(fmt::format("missing '{}'", key));
  if (!it->is_string()) throw std::invalid_argument(fmt::format("'{}' is not a string", key));
  return parse_rfc3339(it->get<std::string>());
}

std::string string_field(const nlohmann::json& line, const char* key) {
  const auto it = line.find(key);
  if (it == line.end()) throw std::invalid_argument(fmt::format("missing '{}'", key));
  if (!it->is_string()) throw std::invalid_argument(fmt::format("'{}' is not a string", key));
  return it->get<std::string>();
}

WriteOutcome outcome_from_string(const std::string& text) {
  if (text == "ok") return WriteOutcome::ok;
  if (text == "error") return WriteOutcome::error;
  if (text == "timeout") return WriteOutcome::timeout;
  throw std::invalid_argument(fmt::format("unknown outcome '{}'", text));
}

template <typename Record, typename Parse>
std::vector<Record> read_jsonl(const std::filesystem::path& path, Parse parse) {
  std::vector<Record> records;
  for_each_jsonl_line(path, [&](const nlohmann::json& line) { records.push_back(parse(line)); });
  return records;
}

}  // namespace

void for_each_jsonl_line(const std::filesystem::path& path, const std::function<void(const nlohmann::json&)>& visit) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", path.string()));
  std::string text;
  std::size_t line_number = 0;
  while (std::getline(in, text)) {
    ++line_number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      visit(nlohmann::json::parse(text));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{}:{}: {}", path.string(), line_number, e.what()));
    }
  }
}

std::string format_rfc3339_micros(Micros t) {
  const std::int64_t seconds = floor_div(t, micros_per_second);
  const std::int64_t fraction = t - seconds * micros_per_second;
  const std::int64_t days = floor_div(seconds, seconds_per_day);
  const std::int64_t second_of_day = seconds - days * seconds_per_day;
  const Civil date = civil_from_days(days);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", date.year, date.month, date.day,
                     second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60, fraction);
}

Micros parse_rfc3339(const std::string& text) {
  std::size_t pos = 0;
  auto digits = [&](std::size_t count) -> std::int64_t {
    std::int64_t value = 0;
    for (std::size_t i = 0; i < count; ++i, ++pos) {
      if (pos >= text.size() || !std::isdigit(static_cast<unsigned char>(text[pos]))) {
        bad_time(text, "expected a digit");
      }
      value = value * 10 + (text[pos] - '0');
    }
    return value;
  };
  auto expect = [&](auto accepts, const char* why) {
    if (pos >= text.size() || !accepts(text[pos])) bad_time(text, why);
    ++pos;
  };
  const std::int64_t year = digits(4);
  expect([](char c) { return c == '-'; }, "expected '-' after the year");
  const auto month = static_cast<unsigned>(digits(2));
  expect([](char c) { return c == '-'; }, "expected '-' after the month");
  const auto day = static_cast<unsigned>(digits(2));
  expect([](char c) { return c == 'T' || c == 't' || c == ' '; }, "expected 'T' after the date");
  const std::int64_t hour = digits(2);
  expect([](char c) { return c == ':'; }, "expected ':' after the hour");
  const std::int64_t minute = digits(2);
  expect([](char c) { return c == ':'; }, "expected ':' after the minute");
  const std::int64_t second = digits(2);
  if (month < 1 || month > 12) bad_time(text, "month out of range");
  if (day < 1 || day > days_in_month(year, month)) bad_time(text, "day out of range");
  if (hour > 23 || minute > 59 || second > 60) bad_time(text, "time of day out of range");

  std::int64_t fraction = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t count = 0;
    std::int64_t scale = 100'000;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (count == 9) bad_time(text, "more than 9 fractional digits");
      // Digits past the sixth are below a microsecond: truncated.
      if (count < 6) {
        fraction += (text[pos] - '0') * scale;
        scale /= 10;
      }
      ++count;
      ++pos;
    }
    if (count == 0) bad_time(text, "expected a digit after '.'");
  }

  std::int64_t offset_seconds = 0;
  if (pos >= text.size()) bad_time(text, "missing 'Z' or an offset");
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    const std::int64_t offset_hours = digits(2);
    expect([](char c) { return c == ':'; }, "expected ':' in the offset");
    const std::int64_t offset_minutes = digits(2);
    if (offset_hours > 23 || offset_minutes > 59) bad_time(text, "offset out of range");
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    bad_time(text, "expected 'Z' or an offset");
  }
  if (pos != text.size()) bad_time(text, "trailing characters");

  // A leap second (:60) is folded onto the next second, as POSIX time does.
  const std::int64_t seconds = days_from_civil(year, month, day) * seconds_per_day + hour * 3600 +
                               minute * 60 + second - offset_seconds;
  return seconds * micros_per_second + fraction;
}

nlohmann::json to_json(const Event& event) {
  nlohmann::json line = nlohmann::json::object();
  if (event.details.is_object()) {
    for (const auto& [key, value] : event.details.items()) line[key] = value;
  }
  line["t"] = format_rfc3339_micros(event.t);
  line["kind"] = event.kind;
  return line;
}

Event event_from_json(const nlohmann::json& line) {
  if (!line.is_object()) throw std::invalid_argument("an event is not a JSON object");
  Event event;
  event.t = micros_field(line, "t");
  event.kind = string_field(line, "kind");
  for (const auto& [key, value] : line.items()) {
    if (key != "t" && key != "kind") event.details[key] = value;
  }
  return event;
}

nlohmann::json to_json(const Ack& ack) {
  nlohmann::json line = {
      {"id", ack.id},
      {"writer", ack.writer},
      {"sent", format_rfc3339_micros(ack.sent)},
      {"acked", ack.acked ? nlohmann::json(format_rfc3339_micros(*ack.acked)) : nlohmann::json()},
      {"outcome", to_string(ack.outcome)},
  };
  if (!ack.error.empty()) line["error"] = ack.error;
  return line;
}

Ack ack_from_json(const nlohmann::json& line) {
  if (!line.is_object()) throw std::invalid_argument("an ack is not a JSON object");
  Ack ack;
  ack.id = string_field(line, "id");
  ack.writer = string_field(line, "writer");
  ack.sent = micros_field(line, "sent");
  const auto acked = line.find("acked");
  if (acked != line.end() && !acked->is_null()) ack.acked = micros_field(line, "acked");
  ack.outcome = outcome_from_string(string_field(line, "outcome"));
  if (ack.outcome == WriteOutcome::ok && !ack.acked) {
    throw std::invalid_argument("outcome 'ok' without an 'acked' time");
  }
  if (line.contains("error")) ack.error = string_field(line, "error");
  return ack;
}

JsonlWriter::JsonlWriter(const std::filesystem::path& path) : out_(path, std::ios::app) {
  if (!out_) throw std::runtime_error(fmt::format("{}: cannot open for writing", path.string()));
}

void JsonlWriter::append(const nlohmann::json& line) {
  // Invalid UTF-8 in an error text must not lose the line.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  std::lock_guard lock(mutex_);
  out_.write(text.data(), static_cast<std::streamsize>(text.size()));
  out_.flush();
}

void JsonlWriter::flush() {
  std::lock_guard lock(mutex_);
  out_.flush();
}

EventLog::EventLog(const std::filesystem::path& path, const Clock& clock, const SecretScrubber* secrets)
    : clock_(clock), secrets_(secrets), writer_(path) {}

nlohmann::json EventLog::clean(nlohmann::json details) const {
  return secrets_ != nullptr ? secrets_->scrub_json(details) : replace_invalid_utf8_json(std::move(details));
}

Micros EventLog::record(const std::string& kind, nlohmann::json details) {
  details = clean(std::move(details));
  // Stamped under the lock so the file and memory hold events in the order of their times.
  std::lock_guard lock(mutex_);
  Event event{clock_.now(), kind, std::move(details)};
  writer_.append(to_json(event));
  events_.push_back(std::move(event));
  return events_.back().t;
}

void EventLog::record_at(Micros t, const std::string& kind, nlohmann::json details) {
  details = clean(std::move(details));
  std::lock_guard lock(mutex_);
  Event event{t, kind, std::move(details)};
  writer_.append(to_json(event));
  events_.push_back(std::move(event));
}

std::vector<Event> EventLog::snapshot() const {
  std::lock_guard lock(mutex_);
  return events_;
}

AckLog::AckLog(const std::filesystem::path& path, const SecretScrubber* secrets) : writer_(path), secrets_(secrets) {}

void AckLog::record(Ack ack) {
  constexpr std::size_t longest_error = 512;
  if (!ack.error.empty()) {
    if (secrets_ != nullptr) ack.error = secrets_->scrub(ack.error);
    if (ack.error.size() > longest_error) ack.error.resize(longest_error);
    ack.error = replace_invalid_utf8(ack.error);
  }
  if (secrets_ != nullptr) {
    if (std::string masked = secrets_->scrub(ack.id); masked != ack.id) {
      ack.id = std::move(masked);
      ack.outcome = WriteOutcome::error;
      ack.acked.reset();
      ack.error = "the id in the answer holds a secret";
    }
  }
  const nlohmann::json line = to_json(ack);
  std::lock_guard lock(mutex_);
  writer_.append(line);
  acks_.push_back(ack);
}

std::vector<Ack> AckLog::snapshot() const {
  std::lock_guard lock(mutex_);
  return acks_;
}

std::size_t AckLog::size() const {
  std::lock_guard lock(mutex_);
  return acks_.size();
}

std::vector<Event> read_events(const std::filesystem::path& path) {
  return read_jsonl<Event>(path, [](const nlohmann::json& line) { return event_from_json(line); });
}

std::vector<Ack> read_acks(const std::filesystem::path& path) {
  return read_jsonl<Ack>(path, [](const nlohmann::json& line) { return ack_from_json(line); });
}

}  // namespace firedrill
