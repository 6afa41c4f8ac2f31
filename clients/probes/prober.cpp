#include "clients/probes/prober.hpp"

#include "core/stop_signal.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <span>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "checks/measure/analysis.hpp"
#include "clients/transport.hpp"

namespace firedrill {
namespace {

class Sampler {
 public:
  virtual ~Sampler() = default;
  /// Takes one sample; never throws, never blocks much longer than the probe's timeout.
  virtual ProbeAnswer sample() = 0;
};

class HttpSampler final : public Sampler {
 public:
  explicit HttpSampler(const ProbeConfig& config)
      : url_(fmt::format("http://{}:{}{}", config.host, config.port, config.path)),
        expect_status_(config.expect_status),
        handle_(curl_easy_init()) {
    if (handle_ == nullptr) throw std::runtime_error("curl_easy_init failed");
    curl_easy_setopt(handle_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(handle_, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS, static_cast<long>(config.timeout.count()));
    curl_easy_setopt(handle_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.timeout.count()));
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, discard_curl_body);
    curl_easy_setopt(handle_, CURLOPT_TCP_NODELAY, 1L);
  }
  ~HttpSampler() override { curl_easy_cleanup(handle_); }
  HttpSampler(const HttpSampler&) = delete;
  HttpSampler& operator=(const HttpSampler&) = delete;

  ProbeAnswer sample() override {
    const CURLcode code = curl_easy_perform(handle_);
    if (code != CURLE_OK) return {false, curl_easy_strerror(code)};
    long status = 0;
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &status);
    const bool up = expect_status_ != 0 ? status == expect_status_ : status >= 200 && status < 300;
    if (up) return {true, ""};
    return {false, fmt::format("HTTP {}", status)};
  }

 private:
  std::string url_;
  int expect_status_;
  CURL* handle_;
};

using SteadyClock = std::chrono::steady_clock;

struct PgConnFinish {
  void operator()(PGconn* connection) const { PQfinish(connection); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnFinish>;

// A connection attempt given up on is reset (RST), not closed (FIN). A frozen or busy server still
// holds it in its accept queue: with a FIN it would start a whole backend for it when it thaws
// (read the startup packet, authenticate, load the catalogs: several ms each on this kind of
// machine) before noticing that nobody listens, and the probe's own retries would queue that work
// in front of the attempt that is still waiting; with a RST it drops it at the first read.
struct PgAttemptAbandon {
  void operator()(PGconn* connection) const {
    if (const int socket = PQsocket(connection); socket >= 0) {
      const linger reset{1, 0};
      ::setsockopt(socket, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    PQfinish(connection);
  }
};
using PgAttemptPtr = std::unique_ptr<PGconn, PgAttemptAbandon>;

// Milliseconds until `until`, rounded up so that a wait never ends just short of it and spins.
int poll_timeout(SteadyClock::time_point until) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

// libpq's own connect is blocking and bounded only by connect_timeout (2 s at least), so the
// sampler drives the non-blocking API against its own deadline. Through a userland port proxy a
// fresh connection can stall for a second (a retransmitted SYN behind the proxy) while a new one
// would be answered at once: an attempt that has made no progress for `patience` gets a fresh
// attempt beside it, and whichever completes first is used.
//
// Attempts outlive the sample whose deadline passed, and the oldest is never the one replaced: a
// frozen server answers its accept queue in order when it thaws, and the oldest attempt has the
// earliest place in it. Closing it at every deadline would send each new attempt to the back of a
// queue the probe itself keeps filling, and the probe would see the thaw tens of milliseconds
// late (every queued connection costs the server a fork, a whole backend start for one closed
// normally).
class SqlSampler final : public Sampler {
 public:
  explicit SqlSampler(const ProbeConfig& config)
      : conninfo_(config.conninfo), query_(config.query), timeout_(config.timeout),
        patience_(std::min<std::chrono::milliseconds>(config.timeout, std::chrono::milliseconds(100))) {}

  ProbeAnswer sample() override {
    const auto deadline = SteadyClock::now() + timeout_;
    if (!connection_) {
      ProbeAnswer connected = connect_before(deadline);
      if (!connected.ok) return connected;
    }
    ProbeAnswer answer = query_before(deadline);
    if (!answer.ok) connection_.reset();
    return answer;
  }

 private:
  static constexpr std::size_t max_in_flight = 2;

  struct Attempt {
    PgAttemptPtr connection;
    PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
    SteadyClock::time_point last_progress;
  };

  ProbeAnswer connect_before(SteadyClock::time_point deadline) {
    std::vector<Attempt>& attempts = attempts_;  // oldest first
    auto& last_start = last_start_;
    std::string last_error;
    while (true) {
      const auto now = SteadyClock::now();
      if (now >= deadline) return {false, fmt::format("connect: no answer within {} ms", timeout_.count())};
      const bool all_stalled = std::all_of(attempts.begin(), attempts.end(),
                                           [&](const Attempt& attempt) { return now - attempt.last_progress >= patience_; });
      if (attempts.empty() ? last_start == SteadyClock::time_point::min() : all_stalled && now - last_start >= patience_) {
        if (attempts.size() >= max_in_flight) attempts.erase(attempts.begin() + 1);
        PgAttemptPtr connection{PQconnectStart(conninfo_.c_str())};
        last_start = now;
        if (connection == nullptr) return {false, "connect: libpq could not allocate a connection"};
        if (PQstatus(connection.get()) == CONNECTION_BAD) {
          last_error = first_line(PQerrorMessage(connection.get()));
        } else {
          attempts.push_back({std::move(connection), PGRES_POLLING_WRITING, now});
        }
      }
      if (attempts.empty()) {
        last_start = SteadyClock::time_point::min();
        return {false, "connect: " + last_error};
      }

      std::vector<pollfd> waits;
      waits.reserve(attempts.size());
      auto latest_activity = last_start;
      for (const Attempt& attempt : attempts) {
        const short events = attempt.polling == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        waits.push_back({PQsocket(attempt.connection.get()), events, 0});
        latest_activity = std::max(latest_activity, attempt.last_progress);
      }
      const auto wake = std::min(deadline, latest_activity + patience_);
      // A negative fd is skipped by poll; such an attempt is advanced below without waiting.
      const bool no_socket = std::any_of(waits.begin(), waits.end(), [](const pollfd& wait) { return wait.fd < 0; });
      ::poll(waits.data(), waits.size(), no_socket ? 0 : poll_timeout(wake));

      const auto polled = SteadyClock::now();
      for (std::size_t index = attempts.size(); index-- > 0;) {
        if (waits[index].fd >= 0 && waits[index].revents == 0) continue;
        Attempt& attempt = attempts[index];
        attempt.polling = PQconnectPoll(attempt.connection.get());
        attempt.last_progress = polled;
        if (attempt.polling == PGRES_POLLING_OK) {
          connection_.reset(attempt.connection.release());
          attempts.clear();
          last_start = SteadyClock::time_point::min();
          return {true, ""};
        }
        if (attempt.polling == PGRES_POLLING_FAILED) {
          last_error = first_line(PQerrorMessage(attempt.connection.get()));
          attempts.erase(attempts.begin() + static_cast<std::ptrdiff_t>(index));
        }
      }
    }
  }

  ProbeAnswer query_before(SteadyClock::time_point deadline) {
    PGconn* connection = connection_.get();
    if (PQsendQuery(connection, query_.c_str()) == 0) return {false, first_line(PQerrorMessage(connection))};
    std::string error;
    bool answered = false;
    while (true) {
      while (PQisBusy(connection) != 0) {
        pollfd wait{PQsocket(connection), POLLIN, 0};
        if (wait.fd < 0) return {false, first_line(PQerrorMessage(connection))};
        if (::poll(&wait, 1, poll_timeout(deadline)) == 0 && SteadyClock::now() >= deadline) {
          return {false, fmt::format("no answer within {} ms", timeout_.count())};
        }
        if (PQconsumeInput(connection) == 0) return {false, first_line(PQerrorMessage(connection))};
      }
      PGresult* result = PQgetResult(connection);
      if (result == nullptr) break;
      answered = true;
      const ExecStatusType status = PQresultStatus(result);
      if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && error.empty()) {
        error = first_line(PQresultErrorMessage(result));
        if (error.empty()) error = first_line(PQerrorMessage(connection));
      }
      PQclear(result);
    }
    if (!answered && error.empty()) error = first_line(PQerrorMessage(connection));
    if (!error.empty()) return {false, error};
    return {true, ""};
  }

  std::string conninfo_;
  std::string query_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds patience_;
  PgConnPtr connection_;
  std::vector<Attempt> attempts_;  // connection attempts still in flight, oldest first
  SteadyClock::time_point last_start_ = SteadyClock::time_point::min();
};

class RedisSampler final : public Sampler {
 public:
  explicit RedisSampler(const ProbeConfig& config)
      : link_(config.host, config.port, config.sentinel, config.timeout, config.password),
        follows_master_(config.sentinel.has_value()) {}

  ProbeAnswer sample() override {
    std::string error;
    redisContext* context = link_.connection(error);
    if (context == nullptr) return {false, error};
    auto* reply = static_cast<redisReply*>(redisCommand(context, follows_master_ ? "ROLE" : "PING"));
    if (reply == nullptr) {
      error = context->errstr[0] != '\0' ? context->errstr : "no reply";
      link_.drop();
      return {false, error};
    }
    ProbeAnswer answer;
    if (!follows_master_ && reply->type == REDIS_REPLY_STATUS && std::string(reply->str, reply->len) == "PONG") {
      answer.ok = true;
    } else if (follows_master_ && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
               reply->element[0]->type == REDIS_REPLY_STRING &&
               std::string(reply->element[0]->str, reply->element[0]->len) == "master") {
      answer.ok = true;
    } else if (reply->type == REDIS_REPLY_ERROR) {
      answer.error = std::string(reply->str, reply->len);
    } else {
      answer.error = follows_master_ ? fmt::format("{} is not a master", link_.server()) : "unexpected reply to PING";
    }
    freeReplyObject(reply);
    // A server that stopped being the master is left, so the next sample asks the sentinels.
    if (!answer.ok && follows_master_) link_.drop();
    return answer;
  }

 private:
  RedisMasterLink link_;
  bool follows_master_;
};

class TcpSampler final : public Sampler {
 public:
  explicit TcpSampler(const ProbeConfig& config) : config_(config) {}

  ProbeAnswer sample() override {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(config_.port);
    if (const int rc = getaddrinfo(config_.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      return {false, fmt::format("resolve {}: {}", config_.host, gai_strerror(rc))};
    }
    const ProbeAnswer answer = try_connect(*found);
    freeaddrinfo(found);
    return answer;
  }

 private:
  ProbeAnswer try_connect(const addrinfo& address) const {
    const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address.ai_protocol);
    if (fd < 0) return {false, fmt::format("socket: {}", std::strerror(errno))};
    ProbeAnswer answer;
    if (::connect(fd, address.ai_addr, address.ai_addrlen) == 0) {
      answer.ok = true;
    } else if (errno != EINPROGRESS) {
      answer.error = fmt::format("connect: {}", std::strerror(errno));
    } else {
      pollfd waiting{fd, POLLOUT, 0};
      const int ready = ::poll(&waiting, 1, static_cast<int>(config_.timeout.count()));
      int error = 0;
      socklen_t length = sizeof error;
      if (ready == 0) {
        answer.error = fmt::format("no connection within {} ms", config_.timeout.count());
      } else if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        answer.error = fmt::format("poll: {}", std::strerror(errno));
      } else if (error != 0) {
        answer.error = fmt::format("connect: {}", std::strerror(error));
      } else {
        answer.ok = true;
      }
    }
    ::close(fd);
    return answer;
  }
  ProbeConfig config_;
};

std::unique_ptr<Sampler> make_sampler(const ProbeConfig& config) {
  if (config.type == "http") {
    ensure_curl_initialised();
    return std::make_unique<HttpSampler>(config);
  }
  if (config.type == "sql") return std::make_unique<SqlSampler>(config);
  if (config.type == "redis") return std::make_unique<RedisSampler>(config);
  if (config.type == "tcp") return std::make_unique<TcpSampler>(config);
  throw std::invalid_argument(fmt::format("probe '{}': unknown type '{}'", config.name, config.type));
}

}  // namespace

ProbeAnswer probe_once(const ProbeConfig& probe) {
  try {
    return make_sampler(probe)->sample();
  } catch (const std::exception& error) {
    return {false, error.what()};
  }
}

constexpr std::chrono::microseconds stale_after_at_least{250'000};

// What counts as a late answer for one probe: more than max(10 ms, 3 × the p99 of its last 100
// answers in time). Until 20 answers are known every answer is in time. Three late answers in a
// row are the probe's new usual (a failover to a slower server), not three outages: from the third
// on they count as in time, and the window learns them.
class LateAnswers {
 public:
  void add(Micros latency) {
    late_in_a_row_ = 0;
    recent_[next_++ % recent_.size()] = latency;
    known_ = std::min(known_ + 1, recent_.size());
  }
  /// Called for a late answer: whether late answers have become the usual ones (then it is added).
  bool is_usual(Micros latency) {
    if (++late_in_a_row_ < 3) return false;
    add(latency);
    return true;
  }
  Micros threshold() const {
    if (known_ < 20) return std::numeric_limits<Micros>::max();
    std::array<Micros, 100> sorted = recent_;
    return late_after(std::span<Micros>(sorted.data(), known_));
  }

 private:
  std::array<Micros, 100> recent_{};
  std::size_t next_ = 0;
  std::size_t known_ = 0;
  int late_in_a_row_ = 0;
};

struct Prober::Shared {
  mutable std::mutex mutex;
  StopSignal stop;
  std::map<std::string, bool> state;
  std::map<std::string, Micros> answered_at;
  std::map<std::string, Micros> staleness;
};

Prober::Prober(std::vector<ProbeConfig> probes, EventLog& events, const Clock& clock)
    : probes_(std::move(probes)), events_(events), clock_(clock), shared_(std::make_unique<Shared>()) {
  for (const ProbeConfig& probe : probes_) {
    if (probe.type != "http" && probe.type != "sql" && probe.type != "redis" && probe.type != "tcp") {
      throw std::invalid_argument(fmt::format("probe '{}': unknown type '{}'", probe.name, probe.type));
    }
    if (probe.interval.count() <= 0) {
      throw std::invalid_argument(fmt::format("probe '{}': interval must be positive", probe.name));
    }
  }
}

Prober::~Prober() { stop(); }

void Prober::start() {
  if (!threads_.empty()) return;
  shared_->stop.reset();
  for (const ProbeConfig& probe : probes_) threads_.emplace_back([this, &probe] { run(probe); });
}

void Prober::stop() {
  shared_->stop.request();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

std::map<std::string, bool> Prober::state() const {
  const Micros now = clock_.now();
  std::lock_guard lock(shared_->mutex);
  std::map<std::string, bool> current;
  for (const auto& [name, ok] : shared_->state)
    current[name] = ok && now - shared_->answered_at.at(name) <= shared_->staleness.at(name);
  return current;
}

bool Prober::all_up(const std::vector<std::string>& probe_names) const {
  const auto current = state();
  return std::all_of(probe_names.begin(), probe_names.end(), [&](const std::string& name) {
    const auto it = current.find(name);
    return it != current.end() && it->second;
  });
}

void Prober::run(const ProbeConfig& probe) {
  std::unique_ptr<Sampler> sampler;
  try {
    sampler = make_sampler(probe);
  } catch (const std::exception& e) {
    events_.record(event_kind::probe,
                   {{"probe", probe.name}, {"service", probe.service}, {"ok", false}, {"error", e.what()}});
    return;
  }
  std::optional<bool> last;
  {
    // A probe whose last answer is older than this is not up, whatever that answer said: a
    // frozen service leaves its probe's sample hanging rather than failing.
    std::lock_guard lock(shared_->mutex);
    shared_->staleness[probe.name] = std::max<Micros>(4 * probe.interval.count(), stale_after_at_least.count());
  }
  LateAnswers late;
  Micros next = clock_.now();
  while (shared_->stop.wait_until(clock_, next)) {
    const Micros started = clock_.now();
    const ProbeAnswer answer = sampler->sample();
    const Micros answered = clock_.now();
    {
      std::lock_guard lock(shared_->mutex);
      shared_->state[probe.name] = answer.ok;
      shared_->answered_at[probe.name] = answered;
    }
    if (answer.ok) {
      // A good answer that came late was a short outage (a freeze shorter than the timeout): down
      // from when the sample was sent, up again now (analysis.hpp).
      const Micros latency = answered - started;
      const Micros late_after = late.threshold();
      if (latency <= late_after) {
        late.add(latency);
      } else if (!late.is_usual(latency) && last.value_or(false)) {
        events_.record_at(started, event_kind::probe,
                          {{"probe", probe.name},
                           {"service", probe.service},
                           {"ok", false},
                           {"late", true},
                           {"latency_ms", static_cast<double>(latency) / 1000.0},
                           {"error", fmt::format("answered after {:.1f} ms, later than {:.1f} ms", latency / 1000.0,
                                                 late_after / 1000.0)}});
        last = false;
      }
    }
    if (!last || *last != answer.ok) {
      nlohmann::json details = {{"probe", probe.name},
                                {"service", probe.service},
                                {"ok", answer.ok},
                                {"latency_ms", static_cast<double>(answered - started) / 1000.0}};
      if (!answer.ok) details["error"] = answer.error;
      // Up is stamped when the good answer arrived; down when the request that failed was sent,
      // which for a timeout is when the service stopped answering, not `timeout` later.
      events_.record_at(answer.ok ? answered : started, event_kind::probe, std::move(details));
      last = answer.ok;
    }
    next = started + probe.interval.count();
  }
}

}  // namespace firedrill
