// The analysis of a long drill's history: measure_recovery and measure_data_loss over millions of
// acks, with probe events, an incident, an outage and a few lost writes. Target: 10M acks, both
// measures together, under 2 s.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "checks/measure/analysis.hpp"

namespace firedrill {
namespace {

constexpr Micros start = 1'800'000'000'000'000;
constexpr Micros spacing = 50;  // one write every 50 µs across all writers
const std::vector<std::string> writer_names = {"orders", "payments", "audit", "sessions"};

struct History {
  std::vector<Event> events;
  std::vector<Ack> acks;
  Readback readback;
  Micros incident_at = 0;
};

// Writes round-robin over four writers; T0 at 60 % of the run; writes fail for 2 s after T0; the
// probes go down 30 ms after T0 and come back after 1.5 s; 25 writes acked before T0 are lost.
std::unique_ptr<History> make_history(std::int64_t count) {
  auto history = std::make_unique<History>();
  const Micros end = start + count * spacing;
  history->incident_at = start + count * spacing * 6 / 10;
  const Micros t0 = history->incident_at;
  history->acks.reserve(static_cast<std::size_t>(count));
  std::vector<std::int64_t> next_n(writer_names.size(), 1);
  for (std::int64_t i = 0; i < count; ++i) {
    const std::size_t w = static_cast<std::size_t>(i) % writer_names.size();
    Ack ack;
    ack.writer = writer_names[w];
    ack.id = "drill42-" + ack.writer + "-" + std::to_string(next_n[w]++);
    ack.sent = start + i * spacing;
    if (ack.sent >= t0 && ack.sent < t0 + 2'000'000) {
      ack.outcome = WriteOutcome::timeout;
      ack.error = "no answer within 1000 ms";
    } else {
      ack.outcome = WriteOutcome::ok;
      ack.acked = ack.sent + 800 + (i % 7) * 100;
    }
    history->acks.push_back(std::move(ack));
  }
  for (const std::string& name : writer_names) history->readback.writers[name].t = end + 1'000'000;
  std::int64_t lost = 0;
  for (std::size_t i = 0; i < history->acks.size(); ++i) {
    const Ack& ack = history->acks[i];
    if (ack.outcome != WriteOutcome::ok) continue;
    const bool is_lost = ack.sent < t0 && ack.sent >= t0 - 200'000 && i % 97 == 0 && lost < 25;
    if (is_lost) {
      ++lost;
      continue;
    }
    history->readback.writers[ack.writer].present.insert(ack.id);
  }

  auto probe = [&](Micros t, const std::string& name, const std::string& service, bool ok) {
    history->events.push_back({t, event_kind::probe, {{"probe", name}, {"service", service}, {"ok", ok}}});
  };
  history->events.push_back({start - 1000, event_kind::run_started, {}});
  for (const auto& [name, service] : std::map<std::string, std::string>{{"app-health", "app"}, {"db-sql", "db"}, {"cache-ping", "cache"}}) {
    probe(start, name, service, true);
  }
  history->events.push_back({t0, event_kind::incident, {{"step", "kill db"}}});
  probe(t0 + 30'000, "db-sql", "db", false);
  probe(t0 + 45'000, "app-health", "app", false);
  probe(t0 + 900'000, "db-sql", "db", true);
  probe(t0 + 950'000, "db-sql", "db", false);  // one flap
  probe(t0 + 1'200'000, "db-sql", "db", true);
  probe(t0 + 1'500'000, "app-health", "app", true);
  history->events.push_back({end, event_kind::run_finished, {}});
  return history;
}

const History& history_of(std::int64_t count) {
  static std::map<std::int64_t, std::unique_ptr<History>> cache;
  auto& entry = cache[count];
  if (!entry) entry = make_history(count);
  return *entry;
}

void BM_MeasureRecoveryAndDataLoss(benchmark::State& state) {
  const History& history = history_of(state.range(0));
  const ComponentScope scope = overall_scope(history.events, history.acks, std::chrono::seconds(1));
  for (auto _ : state) {
    const RecoveryMeasure recovery = measure_recovery(history.events, history.acks, scope);
    const DataLossMeasure loss = measure_data_loss(history.acks, history.readback, recovery.incident_at, {});
    if (!recovery.recovered || loss.lost_acked != 25) state.SkipWithError("unexpected measure");
    benchmark::DoNotOptimize(recovery);
    benchmark::DoNotOptimize(loss);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_MeasureRecoveryAndDataLoss)->Arg(1'000'000)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_MeasureRecovery(benchmark::State& state) {
  const History& history = history_of(state.range(0));
  const ComponentScope scope = overall_scope(history.events, history.acks, std::chrono::seconds(1));
  for (auto _ : state) benchmark::DoNotOptimize(measure_recovery(history.events, history.acks, scope));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_MeasureRecovery)->Arg(1'000'000)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_MeasureDataLoss(benchmark::State& state) {
  const History& history = history_of(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(measure_data_loss(history.acks, history.readback, history.incident_at, {}));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_MeasureDataLoss)->Arg(1'000'000)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->Iterations(3);

// Building the readback from the ids read back (done once per drill, after recovery).
void BM_BuildReadback(benchmark::State& state) {
  const History& history = history_of(state.range(0));
  for (auto _ : state) {
    IdSet present;
    for (const Ack& ack : history.acks) present.insert(ack.id);
    benchmark::DoNotOptimize(present.size());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BuildReadback)->Arg(1'000'000)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace firedrill

BENCHMARK_MAIN();
