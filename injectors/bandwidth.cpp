#include "injectors/bandwidth.hpp"

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "injectors/netem.hpp"
#include "injectors/network_faults.hpp"

namespace firedrill {
namespace {

constexpr auto lag_sample_every = std::chrono::milliseconds(500);
constexpr auto lag_query_timeout = std::chrono::seconds(5);
/// A primary that cannot answer this many times in a row is gone (killed, say): the watch ends.
constexpr int lag_failures_to_give_up = 3;

/// A number followed by one of `units` (each with its factor); nullopt for anything else.
std::optional<double> number_with_unit(const std::string& text, const std::vector<std::pair<std::string, double>>& units) {
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) ++digits;
  if (digits == 0) return std::nullopt;
  double number = 0;
  try {
    std::size_t used = 0;
    number = std::stod(text.substr(0, digits), &used);
    if (used != digits) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(digits);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [name, factor] : units)
    if (unit == name) return number * factor;
  return std::nullopt;
}

std::string first_line(std::string text) {
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

/// What a Postgres primary says of one standby's replication while the link to it is starved:
/// read on a thread of its own so the fault's injection does not wait for it. Queries go through
/// the runtime's exec (psql over the container's Unix socket), as replication-lag's do.
class ReplicationLagWatch {
 public:
  ReplicationLagWatch(Runtime& runtime, EventLog& events, std::string primary, std::string standby)
      : runtime_(runtime), events_(events), primary_(std::move(primary)), standby_(std::move(standby)),
        thread_([this] { watch(); }) {}
  ~ReplicationLagWatch() { stop(); }
  ReplicationLagWatch(const ReplicationLagWatch&) = delete;
  ReplicationLagWatch& operator=(const ReplicationLagWatch&) = delete;

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  /// The readings so far; null when the target streamed nothing to the standby (not a primary).
  nlohmann::json summary() const {
    std::lock_guard lock(mutex_);
    if (samples_ == 0) return nullptr;
    return {{"standby", standby_},
            {"samples", samples_},
            {"every_ms", lag_sample_every.count()},
            {"last", last_},
            {"max_behind_bytes", max_behind_bytes_},
            {"max_replay_lag_seconds", max_replay_lag_seconds_}};
  }

 private:
  void watch() {
    int failures = 0;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      const bool answered = sample();
      lock.lock();
      failures = answered ? 0 : failures + 1;
      if (failures >= lag_failures_to_give_up) return;
      wake_.wait_for(lock, lag_sample_every, [this] { return stopping_; });
    }
  }

  /// One reading; false when the primary did not answer.
  bool sample() {
    // Bytes the primary wrote that the standby has not replayed, and the time it last took from
    // a local flush to the standby's replay (null while nothing is in flight: 0).
    const std::string query = fmt::format(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, "
        "COALESCE(extract(epoch FROM replay_lag), 0)::float8 FROM pg_stat_replication "
        "WHERE application_name = '{}' LIMIT 1",
        standby_);
    ExecResult result;
    try {
      result = runtime_.exec(
          primary_,
          {"sh", "-c", R"(exec psql -X -tA -F ' ' -U "${POSTGRES_USER:-postgres}" -d postgres -c "$1")", "psql", query},
          lag_query_timeout);
    } catch (const std::exception&) {
      return false;
    }
    if (result.exit_code != 0) return false;
    const std::string row = first_line(result.output);
    const auto space = row.find(' ');
    if (space == std::string::npos) return true;  // no row: the standby is not streaming now
    double behind_bytes = 0;
    double replay_lag_seconds = 0;
    try {
      behind_bytes = std::stod(row.substr(0, space));
      replay_lag_seconds = std::stod(row.substr(space + 1));
    } catch (const std::exception&) {
      return true;
    }
    const Micros at = events_.record("replication.lag", {{"primary", primary_},
                                                         {"standby", standby_},
                                                         {"behind_bytes", static_cast<std::int64_t>(behind_bytes)},
                                                         {"replay_lag_seconds", replay_lag_seconds}});
    std::lock_guard lock(mutex_);
    ++samples_;
    last_ = {{"at", format_rfc3339_micros(at)},
             {"behind_bytes", static_cast<std::int64_t>(behind_bytes)},
             {"replay_lag_seconds", replay_lag_seconds}};
    max_behind_bytes_ = std::max(max_behind_bytes_, static_cast<std::int64_t>(behind_bytes));
    max_replay_lag_seconds_ = std::max(max_replay_lag_seconds_, replay_lag_seconds);
    return true;
  }

  Runtime& runtime_;
  EventLog& events_;
  const std::string primary_;
  const std::string standby_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int samples_ = 0;
  nlohmann::json last_;
  std::int64_t max_behind_bytes_ = 0;
  double max_replay_lag_seconds_ = 0;
  std::thread thread_;  // last: it starts once every member above is ready
};

/// The cap, and the watch of the replication it starves (if any); the report's details carry
/// what the watch saw.
class BandwidthFault final : public ActiveFault {
 public:
  BandwidthFault(std::unique_ptr<ActiveFault> cap, std::unique_ptr<ReplicationLagWatch> watch)
      : cap_(std::move(cap)), watch_(std::move(watch)) {}

  void revert() override {
    watch_->stop();
    cap_->revert();
  }

  nlohmann::json describe() const override {
    nlohmann::json described = cap_->describe();
    if (auto lag = watch_->summary(); !lag.is_null()) described["replication_lag"] = lag;
    return described;
  }

 private:
  std::unique_ptr<ActiveFault> cap_;
  std::unique_ptr<ReplicationLagWatch> watch_;
};

double rate_of(const StepSpec& step) {
  auto rate = bandwidth::bytes_per_second(step.param_text("rate"));
  if (!rate) throw std::invalid_argument(fmt::format("step '{}': bandwidth needs a 'rate' like 1mbit", step.name));
  return *rate;
}

double burst_of(const StepSpec& step, double rate) {
  const std::string burst = step.param_text("burst");
  if (burst.empty()) return bandwidth::default_burst_bytes(rate);
  return bandwidth::size_in_bytes(burst).value_or(0);
}

/// The target's paths to and from the peer: whichever of them connects to the other, the proxy
/// on its path carries what the target sends.
StepPaths paths_between(const StepSpec& step, const Scenario&) {
  const std::string peer = step.param_text("towards");
  return StepPaths{{{step.target, peer}, {peer, step.target}}, bandwidth_via(step) == BandwidthVia::proxy};
}

}  // namespace

namespace bandwidth {

std::optional<double> bytes_per_second(const std::string& text) {
  auto rate = number_with_unit(text, {{"bit", 1.0 / 8},
                                      {"kbit", 1e3 / 8},
                                      {"mbit", 1e6 / 8},
                                      {"gbit", 1e9 / 8},
                                      {"bps", 1},
                                      {"kbps", 1e3},
                                      {"mbps", 1e6},
                                      {"gbps", 1e9}});
  if (!rate || *rate <= 0) return std::nullopt;
  return rate;
}

std::optional<double> size_in_bytes(const std::string& text) {
  auto size = number_with_unit(text, {{"", 1}, {"b", 1}, {"kb", 1024}, {"mb", 1024 * 1024}});
  if (!size || *size <= 0) return std::nullopt;
  return size;
}

double default_burst_bytes(double bytes_per_second) { return std::max(bytes_per_second * 0.02, 4096.0); }

}  // namespace bandwidth

BandwidthVia bandwidth_via(const StepSpec& step) {
  const std::string via = step.param_text("via");
  if (via == "tc") return BandwidthVia::tc;
  if (via == "proxy") return BandwidthVia::proxy;
  return kernel_has_rate_limit() ? BandwidthVia::tc : BandwidthVia::proxy;
}

VerbSpec BandwidthInjector::spec() {
  return {"bandwidth",
          "Cap the target's traffic towards one peer at a rate; the excess queues (tc htb where the kernel has it, "
          "else the fault proxy). Watches a Postgres primary's replication to a standby it starves.",
          true,
          {{"towards", ParamType::service, true, "the peer whose traffic from the target is capped"},
           {"rate", ParamType::string, true,
            "bits (bit, kbit, mbit, gbit) or bytes (bps, kbps, mbps, gbps) per second, steps of 1000: like 1mbit"},
           {"burst", ParamType::string, false,
            "bytes (b, kb, mb; steps of 1024) that may pass at once after a quiet spell (default 20 ms of the rate, "
            "at least 4kb)"},
           {"via", ParamType::string, false,
            "tc | proxy (default: tc when the kernel has htb, else proxy); proxy needs one of the two to reach the "
            "other through ${peer.url}, ${peer.host} or ${peer.port}"}},
          check_params,
          {},
          paths_between};
}

void BandwidthInjector::check_params(const StepSpec& step) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("step '{}': bandwidth {}", step.name, why));
  };
  const std::string via = step.param_text("via");
  if (!via.empty() && via != "tc" && via != "proxy") fail(fmt::format("'via' must be tc or proxy, not '{}'", via));
  if (step.param_text("towards") == step.target) fail("'towards' must name another service than the target");
  const std::string rate = step.param_text("rate");
  if (!bandwidth::bytes_per_second(rate))
    fail(fmt::format("'rate' must be a number and a unit like 1mbit, 500kbit or 64kbps, not '{}'", rate));
  if (*bandwidth::bytes_per_second(rate) < 1) fail("'rate' must be at least 8bit");
  const std::string burst = step.param_text("burst");
  if (!burst.empty() && !bandwidth::size_in_bytes(burst))
    fail(fmt::format("'burst' must be a size like 32kb or 1500b, not '{}'", burst));
  if (!burst.empty() && *bandwidth::size_in_bytes(burst) < 1600)
    fail("'burst' must hold at least one full-size packet (1600b)");
}

std::unique_ptr<ActiveFault> BandwidthInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  const std::string peer = step.param_text("towards");
  const double rate = rate_of(step);
  const double burst = burst_of(step, rate);
  nlohmann::json described = {{"towards", peer},
                              {"rate", step.param_text("rate")},
                              {"bytes_per_second", rate},
                              {"burst_bytes", burst}};
  // A connection through a fault proxy (another step's) reaches the target from the proxy's
  // address, which a filter on the peer's address never sees: the proxy caps it instead.
  const bool proxied = context.proxy_between &&
                       (context.proxy_between(step.target, peer) != nullptr || context.proxy_between(peer, step.target) != nullptr);
  auto network = bandwidth_via(step) == BandwidthVia::proxy || proxied ? network_faults_on_proxies(context)
                                                                        : network_faults_for(context);
  auto cap = network->limit(step, {step.target, peer, true, false}, rate, burst, std::move(described));
  return std::make_unique<BandwidthFault>(std::move(cap),
                                          std::make_unique<ReplicationLagWatch>(context.runtime, context.events, step.target, peer));
}

}  // namespace firedrill
