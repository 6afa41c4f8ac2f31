#include "checks/integrity.hpp"

#include <charconv>
#include <regex>

#include <fmt/format.h>

#include "checks/registry.hpp"

namespace firedrill {

std::optional<std::string> compare_expectation(long long value, const std::string& expectation, long long acked) {
  static const std::regex form(R"(^\s*(>=|<=|==|=|!=|>|<)?\s*(acked|-?[0-9]+)\s*$)");
  std::smatch match;
  if (!std::regex_match(expectation, match, form))
    return fmt::format("cannot read the expectation '{}' (use e.g. '>= acked', '== 0')", expectation);
  std::string op = match[1].matched ? match[1].str() : "==";
  long long expected = 0;
  if (match[2] == "acked") {
    expected = acked;
  } else {
    auto text = match[2].str();
    if (std::from_chars(text.data(), text.data() + text.size(), expected).ec != std::errc{})
      return fmt::format("the number in '{}' is out of range", expectation);
  }
  bool holds = op == ">=" ? value >= expected : op == "<=" ? value <= expected : op == ">" ? value > expected
             : op == "<"  ? value < expected  : op == "!=" ? value != expected : value == expected;
  if (holds) return std::nullopt;
  return fmt::format("{} is not {} {}{}", value, op, expected, match[2] == "acked" ? " (acknowledged writes)" : "");
}

CheckEntry integrity_check() {
  VerbSpec spec{"integrity",
                "Run a SQL query on the subject after recovery and compare its value (e.g. row count >= acked writes).",
                true,
                {{"sql", ParamType::string, true, "query whose first column of the first row is an integer"},
                 {"expect", ParamType::string, true, "'>= acked', '== 0', '> 100', ..."}}};
  auto evaluate = [](const CheckSpec& check, const CheckInput& input) {
    CheckOutcome result{fmt::format("integrity({})", check.subject), Verdict::fail, ""};
    const std::string sql = check.params.at("sql").text;
    const std::string expect = check.params.at("expect").text;
    const Event* answer = nullptr;
    for (const auto& event : input.events)
      if (event.kind == gathered_event_kind({"sql", sql}) && event.details.value("subject", "") == check.subject &&
          event.details.value("sql", "") == sql)
        answer = &event;
    if (!answer) {
      result.verdict = Verdict::unknown;
      result.detail = "the query never ran (the drill did not reach read-back)";
      return result;
    }
    if (!answer->details.contains("value")) {
      result.detail = "the query failed: " + answer->details.value("error", std::string("unknown error"));
      return result;
    }
    std::string text = answer->details["value"].get<std::string>();
    long long value = 0;
    if (std::from_chars(text.data(), text.data() + text.size(), value).ec != std::errc{}) {
      result.detail = fmt::format("the query returned '{}', not an integer", text);
      return result;
    }
    auto loss = input.loss.find(check.subject);
    long long acked = loss == input.loss.end() ? 0 : loss->second.acked;
    auto failure = compare_expectation(value, expect, acked);
    result.verdict = failure ? Verdict::fail : Verdict::pass;
    result.detail = failure ? *failure : fmt::format("{} {} (acked {})", value, expect, acked);
    return result;
  };
  // The query runs on the subject while the environment is still up, after recovery.
  auto gather = [](const CheckSpec& check) { return std::vector<Gathering>{{"sql", check.params.at("sql").text}}; };
  return {spec, evaluate, gather};
}

}  // namespace firedrill
