#include "checks/history.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/secrets.hpp"

namespace firedrill {
namespace {

class FixedClock final : public Clock {
 public:
  explicit FixedClock(Micros t) : t_(t) {}
  Micros now() const override { return t_; }
  void sleep_until(Micros) const override {}

 private:
  Micros t_;
};

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "firedrill-history-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// 2026-11-25T12:00:00Z, computed independently: 20782 days after the epoch.
constexpr Micros noon_2026_11_25 = (20782LL * 86400 + 12 * 3600) * 1'000'000;

TEST(Rfc3339, FormatsUtcWithSixFractionalDigits) {
  EXPECT_EQ(format_rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_rfc3339_micros(noon_2026_11_25 + 123456), "2026-11-25T12:00:00.123456Z");
  EXPECT_EQ(format_rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(format_rfc3339_micros(951782400LL * 1'000'000), "2000-02-29T00:00:00.000000Z");
}

TEST(Rfc3339, RoundTripsAcrossCenturiesAndLeapDays) {
  for (Micros t : {Micros{0}, Micros{1}, noon_2026_11_25 + 999999, Micros{951782399999999},
                   Micros{-86'400'000'001}, Micros{4102444800000000}, Micros{253402300799999999}}) {
    EXPECT_EQ(parse_rfc3339(format_rfc3339_micros(t)), t) << format_rfc3339_micros(t);
  }
}

TEST(Rfc3339, ParsesOffsetsAndFractionLengths) {
  EXPECT_EQ(parse_rfc3339("2026-11-25T12:00:00Z"), noon_2026_11_25);
  EXPECT_EQ(parse_rfc3339("2026-11-25T13:30:00+01:30"), noon_2026_11_25);
  EXPECT_EQ(parse_rfc3339("2026-11-25T07:00:00-05:00"), noon_2026_11_25);
  EXPECT_EQ(parse_rfc3339("2026-11-25t12:00:00.5z"), noon_2026_11_25 + 500000);
  EXPECT_EQ(parse_rfc3339("2026-11-25T12:00:00.123456789Z"), noon_2026_11_25 + 123456);
  EXPECT_EQ(parse_rfc3339("2026-11-25T12:00:00.000001+00:00"), noon_2026_11_25 + 1);
}

TEST(Rfc3339, RejectsMalformedTextNamingIt) {
  for (const char* text : {"", "2026-11-25", "2026-11-25T12:00:00", "2026-13-01T00:00:00Z",
                           "2026-02-29T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T12:00:00.Z",
                           "2026-11-25T12:00:00.1234567890Z", "2026-11-25T12:00:00+0100",
                           "2026-11-25T12:00:00Zjunk", "26-11-25T12:00:00Z"}) {
    try {
      parse_rfc3339(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + text + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(EventJson, FlattensDetailsBesideTimeAndKind) {
  Event event{noon_2026_11_25 + 42, event_kind::probe, {{"probe", "db"}, {"ok", false}}};
  const nlohmann::json line = to_json(event);
  EXPECT_EQ(line["t"], "2026-11-25T12:00:00.000042Z");
  EXPECT_EQ(line["kind"], "probe");
  EXPECT_EQ(line["probe"], "db");
  EXPECT_EQ(line["ok"], false);

  const Event back = event_from_json(line);
  EXPECT_EQ(back.t, event.t);
  EXPECT_EQ(back.kind, event.kind);
  EXPECT_EQ(back.details, event.details);
}

TEST(EventJson, DetailsCannotOverrideTimeOrKind) {
  Event event{5, "x", {{"t", "bogus"}, {"kind", "other"}}};
  const nlohmann::json line = to_json(event);
  EXPECT_EQ(line["t"], "1970-01-01T00:00:00.000005Z");
  EXPECT_EQ(line["kind"], "x");
}

TEST(AckJson, RoundTripsAckedAndFailedWrites) {
  Ack acked{"run-orders-1", "orders", noon_2026_11_25, noon_2026_11_25 + 1500, WriteOutcome::ok, ""};
  nlohmann::json line = to_json(acked);
  EXPECT_EQ(line["acked"], "2026-11-25T12:00:00.001500Z");
  EXPECT_FALSE(line.contains("error"));
  Ack back = ack_from_json(line);
  EXPECT_EQ(back.id, acked.id);
  EXPECT_EQ(back.writer, acked.writer);
  EXPECT_EQ(back.sent, acked.sent);
  EXPECT_EQ(back.acked, acked.acked);
  EXPECT_EQ(back.outcome, WriteOutcome::ok);

  Ack failed{"run-orders-2", "orders", noon_2026_11_25, std::nullopt, WriteOutcome::timeout, "timed out"};
  line = to_json(failed);
  EXPECT_TRUE(line["acked"].is_null());
  EXPECT_EQ(line["outcome"], "timeout");
  back = ack_from_json(line);
  EXPECT_FALSE(back.acked.has_value());
  EXPECT_EQ(back.outcome, WriteOutcome::timeout);
  EXPECT_EQ(back.error, "timed out");
}

TEST(Logs, WriteLinesThatReadBackAndStayInMemory) {
  TempDir dir;
  FixedClock clock(noon_2026_11_25);
  {
    EventLog events(dir.path() / "events.jsonl", clock);
    EXPECT_EQ(events.record(event_kind::incident, {{"step", "kill"}}), noon_2026_11_25);
    events.record_at(noon_2026_11_25 + 7, event_kind::probe, {{"probe", "db"}, {"ok", true}});
    ASSERT_EQ(events.snapshot().size(), 2u);

    AckLog acks(dir.path() / "acks.jsonl");
    acks.record({"a-w-1", "w", 1, 2, WriteOutcome::ok, ""});
    acks.record({"a-w-2", "w", 3, std::nullopt, WriteOutcome::error, "refused"});
    EXPECT_EQ(acks.size(), 2u);

    // Lines are on disk before the logs are closed: a killed harness keeps them.
    const auto on_disk_events = read_events(dir.path() / "events.jsonl");
    ASSERT_EQ(on_disk_events.size(), 2u);
    EXPECT_EQ(on_disk_events[1].t, noon_2026_11_25 + 7);
    EXPECT_EQ(on_disk_events[1].details["probe"], "db");
    const auto on_disk_acks = read_acks(dir.path() / "acks.jsonl");
    ASSERT_EQ(on_disk_acks.size(), 2u);
    EXPECT_EQ(on_disk_acks[1].error, "refused");
  }
}

TEST(Logs, AnAckLogMasksBoundsAndMendsWhatAServiceSaid) {
  TempDir dir;
  SecretScrubber secrets;
  secrets.add("api-key-77");
  AckLog acks(dir.path() / "acks.jsonl", &secrets);
  // A service echoing the request's key in its error, at length and not in UTF-8.
  acks.record({"a-w-1", "w", 1, std::nullopt, WriteOutcome::error, "bad key api-key-77 \xff" + std::string(2000, 'x')});
  // A service naming its write with the key itself.
  acks.record({"o-api-key-77", "w", 3, 4, WriteOutcome::ok, ""});
  const std::string text = [&] {
    std::ifstream in(dir.path() / "acks.jsonl");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  EXPECT_EQ(text.find("api-key-77"), std::string::npos) << text;
  const auto on_disk = read_acks(dir.path() / "acks.jsonl");
  ASSERT_EQ(on_disk.size(), 2u);
  EXPECT_LE(on_disk[0].error.size(), 520u);
  EXPECT_EQ(on_disk[1].outcome, WriteOutcome::error);
  EXPECT_FALSE(on_disk[1].acked);
  EXPECT_EQ(on_disk[1].error, "the id in the answer holds a secret");
}

TEST(Logs, ManyThreadsWriteWholeLines) {
  TempDir dir;
  AckLog acks(dir.path() / "acks.jsonl");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&acks, t] {
      for (int i = 0; i < 500; ++i) {
        acks.record({"p-w" + std::to_string(t) + "-" + std::to_string(i), "w" + std::to_string(t), i,
                     i + 1, WriteOutcome::ok, ""});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(read_acks(dir.path() / "acks.jsonl").size(), 2000u);
}

TEST(Logs, MalformedLineNamesPathAndLine) {
  TempDir dir;
  const auto path = dir.path() / "acks.jsonl";
  write_file(path,
             R"({"id":"a","writer":"w","sent":"2026-11-25T12:00:00.000000Z","acked":null,"outcome":"error"})"
             "\n\n"
             R"({"id":"b","writer":"w","sent":"2026-11-25T12:00:00.000000Z","acked":null,"outcome":"maybe"})"
             "\n");
  try {
    read_acks(path);
    FAIL() << "accepted an unknown outcome";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ":3: unknown outcome 'maybe'");
  }

  write_file(path, "{\"t\":\"2026-11-25T12:00:00Z\",\"kind\":\"x\"}\n{\"t\":\"2026-11-25T12:00:00Z\",\"kin");
  try {
    read_events(path);
    FAIL() << "accepted a truncated line";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path.string() + ":2: ", 0), 0u) << e.what();
  }

  write_file(path, "{\"kind\":\"x\"}\n");
  try {
    read_events(path);
    FAIL() << "accepted an event without a time";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ":1: missing 't'");
  }
}

TEST(Logs, AnOkAckWithoutAckTimeIsMalformed) {
  TempDir dir;
  const auto path = dir.path() / "acks.jsonl";
  write_file(path, R"({"id":"a","writer":"w","sent":"2026-11-25T12:00:00Z","acked":null,"outcome":"ok"})"
                   "\n");
  EXPECT_THROW(read_acks(path), std::runtime_error);
}

TEST(Logs, MissingFileIsAnError) {
  EXPECT_THROW(read_events("/nonexistent/firedrill/events.jsonl"), std::runtime_error);
}

}  // namespace
}  // namespace firedrill
