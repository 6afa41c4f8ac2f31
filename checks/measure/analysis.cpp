// The recovery of a component after the incident, by the definitions in analysis.hpp: T0, the
// probes and writers of a scope, when the incident was detected and when the component recovered,
// its RTO and downtime, and when the incident's fault ended. What was lost is measured in
// data_loss.cpp; the late rule, write statistics and the quality of the timing in timing.cpp.
#include "checks/measure/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "checks/measure/analysis_internal.hpp"

namespace firedrill {
namespace {

constexpr double micros_per_second_as_double = 1e6;

std::string seconds_text(Duration d) { return fmt::format("{:.3f}s", static_cast<double>(d.count()) / 1e6); }

bool ok_detail(const Event& event) {
  if (!event.details.is_object()) return false;
  const auto it = event.details.find("ok");
  return it != event.details.end() && it->is_boolean() && it->get<bool>();
}

struct Transition {
  Micros t;
  std::size_t probe;
  bool ok;
  Micros answered;  // t + the sample's latency: a down stamped at its sending lasted until then
};

// Periods in which not every probe of the scope was up, from T0 on.
struct ProbeAnalysis {
  std::optional<Micros> detected_at;
  std::optional<Micros> recovered_at;
  std::vector<std::pair<Micros, Micros>> down_periods;  // [from, to), to = end when still down
  std::vector<std::string> down_at_end;
};

// One pass over the probe transitions of a scope (sorted by time).
ProbeAnalysis follow_probes(const std::vector<Transition>& transitions, const ComponentScope& scope, Micros t0,
                            Micros detect_from, Micros end) {
  ProbeAnalysis result;
  const std::size_t count = scope.probes.size();
  std::vector<bool> up(count, false);
  std::vector<std::optional<Micros>> failing(count);  // down by a request failed or late, answered then
  std::size_t down = count;  // unknown counts as down
  auto apply = [&](const Transition& tr) {
    if (tr.ok && !up[tr.probe]) {
      up[tr.probe] = true;
      --down;
    } else if (!tr.ok && up[tr.probe]) {
      up[tr.probe] = false;
      ++down;
    }
    failing[tr.probe] = tr.ok ? std::nullopt : std::optional<Micros>(tr.answered);
    if (!tr.ok && tr.t >= detect_from && !result.detected_at) result.detected_at = tr.t;
  };

  std::size_t i = 0;
  for (; i < transitions.size() && transitions[i].t < detect_from; ++i) apply(transitions[i]);
  // A request sent before the fault and still unanswered then, that failed or came back late
  // (stamped when it was sent), has the probe down as the fault takes effect: detected at once. A
  // probe that had been failing for longer detects nothing new.
  if (std::any_of(failing.begin(), failing.end(), [&](const std::optional<Micros>& answered) {
        return answered && *answered >= detect_from;
      }))
    result.detected_at = detect_from;
  for (; i < transitions.size() && transitions[i].t <= t0; ++i) apply(transitions[i]);

  // Either every probe has been up since `since`, or at least one has been down since `since`.
  bool all_up = down == 0;
  Micros since = t0;
  auto stable_until = [&](Micros from, Micros until) {
    return until - from >= scope.stable.count() && from + scope.stable.count() <= end;
  };
  while (i < transitions.size() && transitions[i].t <= end) {
    const Micros t = transitions[i].t;
    for (; i < transitions.size() && transitions[i].t == t; ++i) apply(transitions[i]);
    if (down == 0 && !all_up) {
      result.down_periods.emplace_back(since, t);
      all_up = true;
      since = t;
    } else if (down != 0 && all_up) {
      if (!result.recovered_at && stable_until(since, t)) result.recovered_at = since;
      all_up = false;
      since = t;
    }
  }
  if (all_up) {
    if (!result.recovered_at && stable_until(since, end)) result.recovered_at = since;
  } else {
    result.down_periods.emplace_back(since, end);
    for (std::size_t p = 0; p < count; ++p) {
      if (!up[p]) result.down_at_end.push_back(scope.probes[p]);
    }
  }
  return result;
}

ProbeAnalysis analyse_probes(const std::vector<Event>& events, const ComponentScope& scope, Micros t0,
                             Micros detect_from, Micros end) {
  if (scope.probes.empty()) {
    ProbeAnalysis result;
    result.recovered_at = t0;
    return result;
  }
  std::vector<Transition> transitions, answers;
  for (const Event& event : events) {
    if (event.kind != event_kind::probe) continue;
    const std::string* probe = string_detail(event, "probe");
    if (probe == nullptr) continue;
    const auto it = std::find(scope.probes.begin(), scope.probes.end(), *probe);
    if (it == scope.probes.end()) continue;
    Micros latency = 0;
    if (const auto found = event.details.find("latency_ms"); found != event.details.end() && found->is_number())
      latency = std::llround(found->get<double>() * 1000.0);
    const Transition transition{event.t, static_cast<std::size_t>(it - scope.probes.begin()), ok_detail(event),
                                event.t + std::max<Micros>(0, latency)};
    transitions.push_back(transition);
    const bool late = event.details.is_object() && event.details.value("late", false);
    if (!late) answers.push_back(transition);
  }
  const auto by_time = [](const Transition& a, const Transition& b) { return a.t < b.t; };
  std::stable_sort(transitions.begin(), transitions.end(), by_time);
  std::stable_sort(answers.begin(), answers.end(), by_time);
  // Downtime and detection see late answers as down; recovery is judged on answers alone (a late
  // answer is still an answer, and a slow moment in the stable window is not a new outage).
  ProbeAnalysis result = follow_probes(transitions, scope, t0, detect_from, end);
  const ProbeAnalysis answered = follow_probes(answers, scope, t0, detect_from, end);
  result.recovered_at = answered.recovered_at;
  result.down_at_end = answered.down_at_end;
  return result;
}

std::optional<Micros> analyse_writes(const std::vector<Ack>& acks, const ComponentScope& scope,
                                     Micros t0, Micros end) {
  if (scope.writers.empty()) return t0;
  const Micros stable = scope.stable.count();
  std::vector<Micros> failures_sent;
  for (const Ack& ack : acks) {
    if (ack.outcome != WriteOutcome::ok && ack.sent >= t0 && in_list(scope.writers, ack.writer)) {
      failures_sent.push_back(ack.sent);
    }
  }
  std::sort(failures_sent.begin(), failures_sent.end());
  std::optional<Micros> best;
  for (const Ack& ack : acks) {
    if (ack.outcome != WriteOutcome::ok || !ack.acked) continue;
    const Micros a = *ack.acked;
    // Only a write sent after the incident shows the service working after it: an answer to one
    // sent before may have left the service just before the fault took effect.
    if (ack.sent < t0 || a + stable > end || (best && a >= *best)) continue;
    if (!in_list(scope.writers, ack.writer)) continue;
    const auto next_failure = std::lower_bound(failures_sent.begin(), failures_sent.end(), a);
    if (next_failure == failures_sent.end() || *next_failure > a + stable) best = a;
  }
  return best;
}

Micros late_write_threshold(const std::vector<Ack>& acks, const ComponentScope& scope, Micros t0) {
  std::vector<Micros> latencies;
  for (const Ack& ack : acks)
    if (ack.outcome == WriteOutcome::ok && ack.acked && *ack.acked < t0 && in_list(scope.writers, ack.writer))
      latencies.push_back(*ack.acked - ack.sent);
  return late_after(latencies);
}

// [sent, answered) of every write of the scope that came back late, and [sent, the writer's next
// acknowledgement) of every write that failed (to `end` when none came).
std::vector<std::pair<Micros, Micros>> write_down_periods(const std::vector<Ack>& acks, const ComponentScope& scope,
                                                          Micros late_after, Micros end) {
  std::map<std::string, std::vector<Micros>> acked_times;
  for (const Ack& ack : acks)
    if (ack.outcome == WriteOutcome::ok && ack.acked && in_list(scope.writers, ack.writer))
      acked_times[ack.writer].push_back(*ack.acked);
  for (auto& [writer, times] : acked_times) std::sort(times.begin(), times.end());
  std::vector<std::pair<Micros, Micros>> periods;
  for (const Ack& ack : acks) {
    if (!in_list(scope.writers, ack.writer)) continue;
    if (ack.outcome == WriteOutcome::ok && ack.acked) {
      if (*ack.acked - ack.sent > late_after) periods.emplace_back(ack.sent, *ack.acked);
      continue;
    }
    Micros until = end;
    if (const auto times = acked_times.find(ack.writer); times != acked_times.end()) {
      const auto next = std::upper_bound(times->second.begin(), times->second.end(), ack.sent);
      if (next != times->second.end()) until = *next;
    }
    periods.emplace_back(ack.sent, std::max(ack.sent, until));
  }
  return periods;
}

// The total length of the union of `periods` inside [from, to).
Micros covered_length(std::vector<std::pair<Micros, Micros>> periods, Micros from, Micros to) {
  std::sort(periods.begin(), periods.end());
  Micros total = 0, reached = from;
  for (const auto& [start, stop] : periods) {
    const Micros a = std::max(start, reached), b = std::min(stop, to);
    if (b > a) total += b - a;
    reached = std::max(reached, std::min(stop, to));
  }
  return total;
}

Micros last_time(const std::vector<Event>& events, const std::vector<Ack>& acks) {
  Micros end = std::numeric_limits<Micros>::min();
  for (const Event& event : events) end = std::max(end, event.t);
  for (const Ack& ack : acks) end = std::max(end, ack.acked ? std::max(ack.sent, *ack.acked) : ack.sent);
  return end;
}

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

}  // namespace

const std::string* string_detail(const Event& event, const char* key) {
  if (!event.details.is_object()) return nullptr;
  const auto it = event.details.find(key);
  if (it == event.details.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

bool in_list(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::optional<Micros> incident_time(const std::vector<Event>& events) {
  std::optional<Micros> t0;
  for (const Event& event : events) {
    if (event.kind == event_kind::incident && (!t0 || event.t < *t0)) t0 = event.t;
  }
  return t0;
}

std::vector<std::string> probes_of_service(const std::vector<Event>& events, const std::string& service) {
  std::vector<std::string> probes;
  for (const Event& event : events) {
    if (event.kind != event_kind::probe) continue;
    const std::string* probe = string_detail(event, "probe");
    const std::string* of = string_detail(event, "service");
    if (probe != nullptr && of != nullptr && *of == service && !in_list(probes, *probe)) {
      probes.push_back(*probe);
    }
  }
  return probes;
}

ComponentScope overall_scope(const std::vector<Event>& events, const std::vector<Ack>& acks,
                             Duration stable) {
  ComponentScope scope{"overall", {}, {}, stable};
  for (const Event& event : events) {
    if (event.kind != event_kind::probe) continue;
    const std::string* probe = string_detail(event, "probe");
    if (probe != nullptr && !in_list(scope.probes, *probe)) scope.probes.push_back(*probe);
  }
  for (const Ack& ack : acks) {
    if (scope.writers.empty() || scope.writers.back() != ack.writer) {
      if (!in_list(scope.writers, ack.writer)) scope.writers.push_back(ack.writer);
    }
  }
  return scope;
}

RecoveryMeasure measure_recovery(const std::vector<Event>& events, const std::vector<Ack>& acks,
                                 const ComponentScope& scope, std::optional<Micros> history_end) {
  RecoveryMeasure m;
  m.incident_at = incident_time(events);
  if (!m.incident_at) {
    m.reason = "no incident event: nothing to measure";
    return m;
  }
  const Micros t0 = *m.incident_at;
  const Micros end = std::max(t0, history_end ? *history_end : last_time(events, acks));

  // A fault that takes effect during the injector's call can be seen by a probe before the call
  // returns (T0); such a failure still detects this incident, after zero seconds.
  Micros detect_from = t0;
  for (const Event& event : events)
    if (event.kind == event_kind::incident && event.t == t0 && event.details.contains("requested_at"))
      detect_from = std::min(t0, parse_rfc3339(event.details["requested_at"].get<std::string>()));
  const ProbeAnalysis probes = analyse_probes(events, scope, t0, detect_from, end);
  m.detected_at = probes.detected_at;
  if (m.detected_at) m.detect_seconds = std::max(0.0, seconds_between(t0, *m.detected_at));
  m.probes_recovered_at = probes.recovered_at;
  m.writes_recovered_at = analyse_writes(acks, scope, t0, end);

  if (m.probes_recovered_at && m.writes_recovered_at) {
    m.recovered = true;
    m.recovered_at = std::max(*m.probes_recovered_at, *m.writes_recovered_at);
    m.rto_seconds = seconds_between(t0, *m.recovered_at);
    m.reason = fmt::format(
        "{}: probes up for {} from +{:.6f}s, writes succeeding for {} from +{:.6f}s", scope.name,
        seconds_text(scope.stable), seconds_between(t0, *m.probes_recovered_at), seconds_text(scope.stable),
        seconds_between(t0, *m.writes_recovered_at));
  } else {
    std::vector<std::string> missing;
    if (!m.probes_recovered_at) {
      missing.push_back(probes.down_at_end.empty()
                            ? fmt::format("probes never all up for {}", seconds_text(scope.stable))
                            : fmt::format("probes down or unknown at the end: {}", join(probes.down_at_end)));
    }
    if (!m.writes_recovered_at) {
      missing.push_back(fmt::format("writes of {} never succeeded for {} without a failure",
                                    join(scope.writers), seconds_text(scope.stable)));
    }
    m.reason = fmt::format("{}: not recovered by +{:.6f}s: {}", scope.name, seconds_between(t0, end),
                           join(missing));
  }

  const Micros downtime_end = m.recovered_at ? *m.recovered_at : end;
  auto down_periods = write_down_periods(acks, scope, late_write_threshold(acks, scope, t0), end);
  // A write down as the fault took effect, or going down after it before recovery, detects the
  // incident too. What goes wrong only after recovery detects nothing of this incident.
  for (const auto& [from, to] : down_periods) {
    if (to <= detect_from || from > downtime_end) continue;
    const Micros seen = std::max(from, detect_from);
    if (!m.detected_at || seen < *m.detected_at) m.detected_at = seen;
  }
  if (m.detected_at && *m.detected_at > downtime_end) m.detected_at.reset();
  m.detect_seconds.reset();
  if (m.detected_at) m.detect_seconds = std::max(0.0, seconds_between(t0, *m.detected_at));
  down_periods.insert(down_periods.end(), probes.down_periods.begin(), probes.down_periods.end());
  m.downtime_seconds = static_cast<double>(covered_length(std::move(down_periods), t0, downtime_end)) / micros_per_second_as_double;
  return m;
}

std::optional<Micros> incident_fault_ended_at(const std::vector<Event>& events) {
  const std::optional<Micros> t0 = incident_time(events);
  if (!t0) return std::nullopt;
  std::string step;
  for (const Event& event : events)
    if (event.kind == event_kind::incident && event.t == *t0) {
      if (const std::string* name = string_detail(event, "step")) step = *name;
    }
  std::optional<Micros> ended;
  for (const Event& event : events) {
    if (event.kind != event_kind::fault_reverted || event.t < *t0) continue;
    const std::string* name = string_detail(event, "step");
    if (name == nullptr || *name != step) continue;
    Micros at = event.t;
    if (const std::string* requested = string_detail(event, "requested_at")) {
      try {
        at = parse_rfc3339(*requested);
      } catch (const std::invalid_argument&) {
      }
    }
    if (!ended || at < *ended) ended = at;
  }
  return ended;
}

}  // namespace firedrill
