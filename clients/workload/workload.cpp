#include "clients/workload/workload.hpp"

#include "core/stop_signal.hpp"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <fmt/format.h>
#include <pqxx/pqxx>

#include "clients/transport.hpp"

namespace firedrill {
namespace {

constexpr const char* insert_statement = "firedrill_insert";
// A closed-loop thread pauses this long after a failure, so an outage is not a flood of failures.
constexpr Micros closed_loop_failure_pause = 5'000;
constexpr auto table_creation_budget = std::chrono::seconds(10);

std::string create_table_sql() {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, writer text NOT NULL, sent_at timestamptz NOT NULL)",
      sql_writes_table);
}

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* target) {
  static_cast<std::string*>(target)->append(data, size * count);
  return size * count;
}

struct CurlHandle {
  CURL* handle;
  CurlHandle() : handle(curl_easy_init()) {
    if (handle == nullptr) throw std::runtime_error("curl_easy_init failed");
  }
  ~CurlHandle() { curl_easy_cleanup(handle); }
  CurlHandle(const CurlHandle&) = delete;
  CurlHandle& operator=(const CurlHandle&) = delete;
};

struct CurlHeaders {
  curl_slist* list = nullptr;
  ~CurlHeaders() { curl_slist_free_all(list); }
};

// One write: what the ack log records beside id, writer and sent.
struct WriteResult {
  WriteOutcome outcome = WriteOutcome::error;
  std::string error;
};

class HttpWriterThread {
 public:
  explicit HttpWriterThread(const WriterConfig& config)
      : url_(fmt::format("http://{}:{}{}", config.host, config.port, config.path)) {
    ensure_curl_initialised();
    headers_.list = curl_slist_append(nullptr, "Content-Type: application/json");
    CURL* h = curl_.handle;
    curl_easy_setopt(h, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers_.list);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config.timeout.count()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_curl_body);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  }

  WriteResult write(const std::string& body) {
    CURL* h = curl_.handle;
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    const CURLcode code = curl_easy_perform(h);
    if (code == CURLE_OPERATION_TIMEDOUT) return {WriteOutcome::timeout, curl_easy_strerror(code)};
    if (code != CURLE_OK) return {WriteOutcome::error, curl_easy_strerror(code)};
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) return {WriteOutcome::ok, ""};
    return {WriteOutcome::error, fmt::format("HTTP {}", status)};
  }

 private:
  std::string url_;
  CurlHandle curl_;
  CurlHeaders headers_;
};

class SqlWriterThread {
 public:
  explicit SqlWriterThread(const WriterConfig& config)
      : conninfo_(conninfo_with_timeout(config.conninfo, config.timeout)), timeout_(config.timeout) {}

  WriteResult write(const std::string& id, const std::string& writer, const std::string& sent) {
    try {
      if (!connection_) {
        connection_ = std::make_unique<pqxx::connection>(conninfo_);
        connection_->prepare(insert_statement,
                             fmt::format("INSERT INTO {} (id, writer, sent_at) VALUES ($1, $2, $3)", sql_writes_table));
      }
    } catch (const std::exception& e) {
      connection_.reset();
      return {WriteOutcome::error, "connect: " + first_line(e.what())};
    }
    deadline_.arm(connection_->sock(), timeout_);
    try {
      // One autocommit statement: committed (and durable, with fsync on) when it returns, in one
      // round trip instead of the three of BEGIN / INSERT / COMMIT.
      pqxx::nontransaction statement(*connection_);
      statement.exec_prepared(insert_statement, id, writer, sent);
      if (deadline_.disarm()) {
        // The statement came back just as the socket was shut down: it did commit.
        connection_.reset();
      }
      return {WriteOutcome::ok, ""};
    } catch (const std::exception& e) {
      const bool timed_out = deadline_.disarm();
      // Reconnecting after any error also follows a failover that repointed the address.
      connection_.reset();
      if (timed_out) return {WriteOutcome::timeout, fmt::format("no answer within {} ms", timeout_.count())};
      return {WriteOutcome::error, first_line(e.what())};
    }
  }

 private:
  std::string conninfo_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<pqxx::connection> connection_;
  SocketDeadline deadline_;
};

class RedisWriterThread {
 public:
  explicit RedisWriterThread(const WriterConfig& config)
      : link_(config.host, config.port, config.sentinel, config.timeout, config.password), timeout_(config.timeout) {}

  WriteResult write(const std::string& id, const std::string& sent) {
    std::string error;
    redisContext* context = link_.connection(error);
    if (context == nullptr) return {WriteOutcome::error, error};
    const auto started = std::chrono::steady_clock::now();
    std::unique_ptr<redisReply, void (*)(redisReply*)> reply{
        static_cast<redisReply*>(redisCommand(context, "SET %b %b", id.data(), id.size(), sent.data(), sent.size())),
        [](redisReply* r) { freeReplyObject(r); }};
    if (reply && reply->type == REDIS_REPLY_STATUS && std::string_view(reply->str, reply->len) == "OK")
      return {WriteOutcome::ok, ""};
    // Any failure, READONLY from a demoted master included, sends the next write through the
    // sentinels again.
    WriteResult result;
    if (reply) {
      result = {WriteOutcome::error, std::string(reply->str, reply->len)};
    } else if (std::chrono::steady_clock::now() - started >= timeout_ * 9 / 10) {
      result = {WriteOutcome::timeout, fmt::format("no answer within {} ms", timeout_.count())};
    } else {
      result = {WriteOutcome::error, context->errstr[0] != '\0' ? context->errstr : "connection lost"};
    }
    link_.drop();
    return result;
  }

 private:
  RedisMasterLink link_;
  std::chrono::milliseconds timeout_;
};

void create_table(const std::string& conninfo, std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + table_creation_budget;
  std::string last_error;
  while (std::chrono::steady_clock::now() < give_up) {
    try {
      pqxx::connection connection(conninfo_with_timeout(conninfo, timeout));
      pqxx::nontransaction statement(connection);
      statement.exec(create_table_sql());
      return;
    } catch (const std::exception& e) {
      last_error = first_line(e.what());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  throw std::runtime_error(fmt::format("cannot create table {}: {}", sql_writes_table, last_error));
}

}  // namespace

std::string write_id(const WriterConfig& writer, std::int64_t n) {
  if (writer.id_prefix.empty()) return fmt::format("{}-{}", writer.name, n);
  return fmt::format("{}-{}-{}", writer.id_prefix, writer.name, n);
}

struct Workload::Shared {
  StopSignal stop;
  Micros started_at = 0;
  std::vector<std::unique_ptr<std::atomic<std::int64_t>>> issued;  // per writer
};

Workload::Workload(std::vector<WriterConfig> writers, AckLog& acks, EventLog& events, const Clock& clock)
    : writers_(std::move(writers)), acks_(acks), events_(events), clock_(clock), shared_(std::make_unique<Shared>()) {
  for (const WriterConfig& writer : writers_) {
    if (writer.kind != "http" && writer.kind != "sql" && writer.kind != "redis") {
      throw std::invalid_argument(fmt::format("writer '{}': unknown kind '{}'", writer.name, writer.kind));
    }
    if (writer.concurrency < 1) {
      throw std::invalid_argument(fmt::format("writer '{}': concurrency must be at least 1", writer.name));
    }
    shared_->issued.push_back(std::make_unique<std::atomic<std::int64_t>>(0));
  }
}

Workload::~Workload() {
  try {
    stop();
  } catch (...) {
    // A destructor only cleans up; the recorded history already holds every write.
  }
}

void Workload::start() {
  if (started_) return;
  for (const WriterConfig& writer : writers_) {
    if (writer.kind == "sql") create_table(writer.conninfo, writer.timeout);
  }
  started_ = true;
  shared_->started_at = clock_.now();
  nlohmann::json names = nlohmann::json::array();
  for (const WriterConfig& writer : writers_) names.push_back(writer.name);
  events_.record_at(shared_->started_at, event_kind::workload_started, {{"writers", names}});
  for (std::size_t w = 0; w < writers_.size(); ++w) {
    for (int k = 0; k < writers_[w].concurrency; ++k) threads_.emplace_back([this, w, k] { run_thread(w, k); });
  }
}

void Workload::stop() {
  if (!started_) return;
  shared_->stop.request();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  started_ = false;
  events_.record(event_kind::workload_stopped, {{"acked", acked()}, {"failed", failed()}});
}

void Workload::run_thread(std::size_t writer_index, int thread_index) {
  const WriterConfig& config = writers_[writer_index];
  std::atomic<std::int64_t>& issued = *shared_->issued[writer_index];
  const Micros ends_at = shared_->started_at + std::chrono::duration_cast<std::chrono::microseconds>(config.max_duration).count();
  const bool open_loop = config.rate_per_second > 0;
  const Micros interval =
      open_loop ? std::max<Micros>(1, std::llround(1e6 * config.concurrency / config.rate_per_second)) : 0;
  // Threads are staggered across one interval so the writer's rate is smooth.
  Micros slot = shared_->started_at + (open_loop ? interval * thread_index / config.concurrency : 0);

  std::unique_ptr<HttpWriterThread> http;
  std::unique_ptr<SqlWriterThread> sql;
  std::unique_ptr<RedisWriterThread> redis;
  try {
    if (config.kind == "http") {
      http = std::make_unique<HttpWriterThread>(config);
    } else if (config.kind == "redis") {
      redis = std::make_unique<RedisWriterThread>(config);
    } else {
      sql = std::make_unique<SqlWriterThread>(config);
    }
  } catch (const std::exception& e) {
    events_.record("workload.error", {{"writer", config.name}, {"error", e.what()}});
    return;
  }

  while (!shared_->stop.requested()) {
    if (open_loop && !shared_->stop.wait_until(clock_, slot)) break;
    if (clock_.now() >= ends_at) break;
    const std::int64_t n = ++issued;
    if (n > config.max_writes) break;

    Ack ack;
    ack.id = write_id(config, n);
    ack.writer = config.name;
    ack.sent = clock_.now();
    const std::string sent_text = format_rfc3339_micros(ack.sent);
    WriteResult result;
    if (http) {
      result = http->write(nlohmann::json{{"id", ack.id}, {"writer", config.name}, {"sent", sent_text}}.dump());
    } else if (redis) {
      result = redis->write(ack.id, sent_text);
    } else {
      result = sql->write(ack.id, config.name, sent_text);
    }
    const Micros answered = clock_.now();
    ack.outcome = result.outcome;
    ack.error = std::move(result.error);
    if (ack.outcome == WriteOutcome::ok) {
      ack.acked = answered;
      ++acked_;
    } else {
      ++failed_;
    }
    acks_.record(ack);

    if (open_loop) {
      slot += interval;
      if (answered > slot) slot += (answered - slot + interval - 1) / interval * interval;
    } else if (ack.outcome != WriteOutcome::ok) {
      if (!shared_->stop.wait_until(clock_, answered + closed_loop_failure_pause)) break;
    }
  }
}

Readback read_back_http(const std::string& host, int port, const std::string& id_prefix,
                        const std::vector<std::string>& writer_names, std::chrono::milliseconds timeout,
                        const Clock& clock) {
  ensure_curl_initialised();
  Readback readback;
  std::vector<std::pair<std::string, WriterReadback*>> prefixes;
  for (const std::string& writer : writer_names) {
    WriterReadback& entry = readback.writers[writer];
    prefixes.emplace_back(id_prefix.empty() ? writer + "-" : id_prefix + "-" + writer + "-", &entry);
  }
  // Longest first: with writers "a" and "a-b", "p-a-b-5" belongs to "a-b".
  std::sort(prefixes.begin(), prefixes.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  auto owner_of = [&](const std::string& id) -> WriterReadback* {
    for (const auto& [prefix, entry] : prefixes) {
      if (id.size() > prefix.size() && id.compare(0, prefix.size(), prefix) == 0 &&
          std::all_of(id.begin() + static_cast<std::ptrdiff_t>(prefix.size()), id.end(),
                      [](char c) { return c >= '0' && c <= '9'; })) {
        return entry;
      }
    }
    return nullptr;
  };

  CurlHandle curl;
  CURL* h = curl.handle;
  std::string body;
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);

  const Micros read_at = clock.now();
  std::optional<std::string> after;
  // Bounded: each page must advance, and no app holds more than this many pages of writes.
  for (int page = 0; page < 100'000; ++page) {
    std::string url = fmt::format("http://{}:{}/orders?limit=10000", host, port);
    if (after) {
      char* escaped = curl_easy_escape(h, after->c_str(), static_cast<int>(after->size()));
      url += "&after=";
      url += escaped;
      curl_free(escaped);
    }
    body.clear();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    const CURLcode code = curl_easy_perform(h);
    if (code != CURLE_OK) throw std::runtime_error(fmt::format("read-back GET {}: {}", url, curl_easy_strerror(code)));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) throw std::runtime_error(fmt::format("read-back GET {}: HTTP {}", url, status));
    nlohmann::json answer;
    try {
      answer = nlohmann::json::parse(body);
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("read-back GET {}: not JSON: {}", url, e.what()));
    }
    if (!answer.is_object() || !answer.contains("ids") || !answer["ids"].is_array()) {
      throw std::runtime_error(fmt::format("read-back GET {}: no 'ids' array", url));
    }
    for (const auto& id : answer["ids"]) {
      if (!id.is_string()) continue;
      if (WriterReadback* entry = owner_of(id.get_ref<const std::string&>())) {
        entry->present.insert(id.get_ref<const std::string&>());
      }
    }
    const auto next = answer.find("next");
    if (next == answer.end() || next->is_null()) {
      for (auto& [name, entry] : readback.writers) entry.t = read_at;
      return readback;
    }
    if (!next->is_string() || (after && next->get<std::string>() == *after)) {
      throw std::runtime_error(fmt::format("read-back GET {}: 'next' does not advance", url));
    }
    after = next->get<std::string>();
  }
  throw std::runtime_error("read-back: too many pages");
}

Readback read_back_sql(const std::string& conninfo, const std::string& writer, const Clock& clock) {
  Readback readback;
  WriterReadback& entry = readback.writers[writer];
  try {
    pqxx::connection connection(conninfo_with_timeout(conninfo, std::chrono::seconds(5)));
    pqxx::read_transaction transaction(connection);
    entry.t = clock.now();
    const pqxx::result rows =
        transaction.exec_params(fmt::format("SELECT id FROM {} WHERE writer = $1", sql_writes_table), writer);
    for (const auto& row : rows) entry.present.insert(std::string_view(row[0].c_str(), row[0].size()));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("read-back of writer '{}': {}", writer, first_line(e.what())));
  }
  return readback;
}

Readback read_back_redis(const std::string& host, int port, const std::optional<SentinelGroup>& sentinel,
                         const std::string& password, const std::string& id_prefix, const std::string& writer,
                         const Clock& clock) {
  Readback readback;
  WriterReadback& entry = readback.writers[writer];
  const std::string prefix = id_prefix.empty() ? writer + "-" : id_prefix + "-" + writer + "-";
  // Run ids and writer names hold no glob characters, so the prefix is a literal MATCH pattern.
  const std::string pattern = prefix + "*";
  RedisMasterLink link(host, port, sentinel, std::chrono::seconds(5), password);
  std::string error;
  redisContext* context = link.connection(error);
  if (context == nullptr) throw std::runtime_error(fmt::format("read-back of writer '{}': {}", writer, error));
  entry.t = clock.now();
  std::string cursor = "0";
  // Bounded: a SCAN over ten million keys in pages of 1000 ends well within this.
  for (int page = 0; page < 1'000'000; ++page) {
    std::unique_ptr<redisReply, void (*)(redisReply*)> reply{
        static_cast<redisReply*>(redisCommand(context, "SCAN %s MATCH %b COUNT 1000", cursor.c_str(), pattern.data(),
                                              pattern.size())),
        [](redisReply* r) { freeReplyObject(r); }};
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
      const std::string why = !reply ? std::string(context->errstr)
                              : reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                                                 : std::string("unexpected reply to SCAN");
      throw std::runtime_error(fmt::format("read-back of writer '{}' on {}: {}", writer, link.server(), why));
    }
    for (std::size_t i = 0; i < reply->element[1]->elements; ++i) {
      const redisReply* key = reply->element[1]->element[i];
      if (key->type != REDIS_REPLY_STRING) continue;
      std::string id(key->str, key->len);
      // With writers "a" and "a-b", "p-a-*" also matches "p-a-b-5": only digits may follow.
      if (id.size() > prefix.size() && std::all_of(id.begin() + static_cast<std::ptrdiff_t>(prefix.size()), id.end(),
                                                    [](char c) { return c >= '0' && c <= '9'; }))
        entry.present.insert(std::move(id));
    }
    cursor.assign(reply->element[0]->str, reply->element[0]->len);
    if (cursor == "0") return readback;
  }
  throw std::runtime_error(fmt::format("read-back of writer '{}': SCAN did not finish", writer));
}

Readback read_back_writes(const WriterConfig& writer, const Clock& clock) {
  if (writer.kind == "sql") return read_back_sql(writer.conninfo, writer.name, clock);
  if (writer.kind == "redis")
    return read_back_redis(writer.host, writer.port, writer.sentinel, writer.password, writer.id_prefix, writer.name, clock);
  return read_back_http(writer.host, writer.port, writer.id_prefix, {writer.name}, std::chrono::seconds(30), clock);
}

}  // namespace firedrill
