#pragma once
// The report a recorded history gives on its own: the evaluation of events.jsonl, acks.jsonl and
// readback.jsonl against the scenario, with the run's identity, faults and steps read from the
// timeline. What only the engine knew (the environment, the harness's own times, the artifacts'
// digests) is absent. Golden tests render every writer from it, so a change in the measurement,
// the judgement or a writer shows in their output (reports/history_golden_test.cpp).
#include <optional>
#include <vector>

#include "checks/history.hpp"
#include "checks/measure/analysis.hpp"
#include "checks/report.hpp"
#include "core/model.hpp"

namespace firedrill {

Report report_from_history(const Scenario& scenario, const std::vector<Event>& events, const std::vector<Ack>& acks,
                           const std::optional<Readback>& readback);

}  // namespace firedrill
