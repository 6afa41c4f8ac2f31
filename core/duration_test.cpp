#include "core/duration.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace firedrill {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

std::string duration_error(std::string_view text) {
  try {
    parse_duration(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

std::string rate_error(std::string_view text) {
  try {
    parse_rate(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST(ParseDuration, ReadsEveryUnit) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("5s"), seconds(5));
  EXPECT_EQ(parse_duration("2m"), minutes(2));
  EXPECT_EQ(parse_duration("1h"), hours(1));
  EXPECT_EQ(parse_duration("0s"), Duration(0));
  EXPECT_EQ(parse_duration("100us"), microseconds(100));
}

TEST(ParseDuration, ReadsFractionsAndConcatenations) {
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("0.25ms"), microseconds(250));
  EXPECT_EQ(parse_duration("1h30m"), minutes(90));
  EXPECT_EQ(parse_duration("1m30.5s"), milliseconds(90'500));
  EXPECT_EQ(parse_duration("0.0000004s"), Duration(0));
  EXPECT_EQ(parse_duration("0.0000006s"), microseconds(1));
}

TEST(ParseDuration, RejectsWhatItDoesNotKnowSayingWhatIsAccepted) {
  const std::string accepted =
      "expected a number and a unit (us, ms, s, m or h), like 250ms, 5s, 2m, 1h, 1.5s or 1h30m";
  EXPECT_EQ(duration_error("5"), "invalid duration '5': " + accepted);
  EXPECT_EQ(duration_error("5 s"), "invalid duration '5 s': " + accepted);
  EXPECT_EQ(duration_error("5sec"), "invalid duration '5sec': " + accepted);
  EXPECT_EQ(duration_error("-5s"), "invalid duration '-5s': " + accepted);
  EXPECT_EQ(duration_error("1.s"), "invalid duration '1.s': " + accepted);
  EXPECT_EQ(duration_error(".5s"), "invalid duration '.5s': " + accepted);
  EXPECT_EQ(duration_error(""), "invalid duration '': " + accepted);
  EXPECT_EQ(duration_error("s"), "invalid duration 's': " + accepted);
}

TEST(ParseDuration, RejectsHugeValuesAsOutOfRange) {
  EXPECT_EQ(duration_error("99999999999999999999s"), "duration '99999999999999999999s' is out of range (at most 720h)");
  EXPECT_EQ(duration_error("721h"), "duration '721h' is out of range (at most 720h)");
  EXPECT_EQ(duration_error("720h1us"), "duration '720h1us' is out of range (at most 720h)");
  EXPECT_EQ(parse_duration("720h"), hours(720));
  EXPECT_EQ(parse_duration("000000000000000000001s"), seconds(1));
}

TEST(FormatDuration, WritesTheShortestForm) {
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(seconds(3)), "3s");
  EXPECT_EQ(format_duration(minutes(2)), "2m");
  EXPECT_EQ(format_duration(minutes(90)), "1h30m");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(format_duration(Duration(0)), "0s");
  EXPECT_EQ(format_duration(microseconds(7)), "7us");
  EXPECT_EQ(format_duration(microseconds(1250)), "1.25ms");
  EXPECT_EQ(format_duration(milliseconds(90'500)), "1m30.5s");
  EXPECT_EQ(format_duration(hours(2) + seconds(5)), "2h5s");
  EXPECT_EQ(format_duration(milliseconds(-250)), "-250ms");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (const Duration d : {Duration(1), Duration(999), Duration(1'001), Duration(61'000'001), Duration(3'723'000'000)})
    EXPECT_EQ(parse_duration(format_duration(d)), d) << format_duration(d);
}

TEST(ParseRate, ReadsPerSecondMinuteHourAndMax) {
  EXPECT_DOUBLE_EQ(parse_rate("200/s"), 200);
  EXPECT_DOUBLE_EQ(parse_rate("30/m"), 0.5);
  EXPECT_DOUBLE_EQ(parse_rate("3600/h"), 1);
  EXPECT_DOUBLE_EQ(parse_rate("2.5/s"), 2.5);
  EXPECT_DOUBLE_EQ(parse_rate("max"), 0);
}

TEST(ParseRate, RejectsOtherFormsZeroAndHugeRates) {
  const std::string accepted =
      "expected a number of writes per second, minute or hour, like 200/s, 30/m or 3600/h, or 'max' for as fast as "
      "possible";
  EXPECT_EQ(rate_error("200"), "invalid rate '200': " + accepted);
  EXPECT_EQ(rate_error("200/d"), "invalid rate '200/d': " + accepted);
  EXPECT_EQ(rate_error("1e400/s"), "invalid rate '1e400/s': " + accepted);
  EXPECT_EQ(rate_error("-1/s"), "invalid rate '-1/s': " + accepted);
  EXPECT_EQ(rate_error("fast"), "invalid rate 'fast': " + accepted);
  EXPECT_EQ(rate_error("0/s"), "rate '0/s' is zero: write a positive rate, or 'max'");
  EXPECT_EQ(rate_error("99999999999999999999/s"), "rate '99999999999999999999/s' is out of range (at most 1000000/s)");
}

}  // namespace
}  // namespace firedrill
