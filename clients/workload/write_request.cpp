#include "clients/workload/write_request.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "clients/transport.hpp"
#include "core/utf8.hpp"

namespace firedrill {
namespace {

constexpr auto setup_budget = std::chrono::seconds(10);

std::size_t keep_answer(char* data, std::size_t size, std::size_t count, void* target) {
  auto& answer = *static_cast<std::string*>(target);
  // An id sits near the top of an answer; a huge body is not kept whole.
  if (answer.size() < 1'000'000) answer.append(data, size * count);
  return size * count;
}

bool status_expected(long status, const std::vector<int>& expect) {
  if (expect.empty()) return status >= 200 && status < 300;
  return std::find(expect.begin(), expect.end(), static_cast<int>(status)) != expect.end();
}

/// The text of the JSON value at `pointer` in `answer`: a string as it is, a number as written;
/// empty when the answer is no JSON or holds nothing usable there.
std::string id_at(const std::string& answer, const nlohmann::json::json_pointer& pointer) {
  constexpr std::size_t longest_id = 256;
  try {
    const auto json = nlohmann::json::parse(answer, nullptr, false);
    if (json.is_discarded() || !json.contains(pointer)) return {};
    const auto& value = json.at(pointer);
    std::string id;
    if (value.is_string()) id = value.get<std::string>();
    if (value.is_number_integer() || value.is_number_unsigned()) id = value.dump();
    // The id goes into acks.jsonl, the report and read-back requests: printable text of a sane
    // length, or no id at all.
    const bool printable = std::all_of(id.begin(), id.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
    return id.size() <= longest_id && printable && is_valid_utf8(id) ? id : std::string();
  } catch (const nlohmann::json::exception&) {
    return {};  // a pointer the answer's shape cannot follow (an index past any array)
  }
}

class HttpRequestWriter final : public RequestWriter {
 public:
  explicit HttpRequestWriter(const WriteTarget& target)
      : base_(fmt::format("http://{}:{}", target.host, target.port)),
        path_(WriteTemplate::compile(target.request.path, WriteTemplate::Escape::url)),
        body_(WriteTemplate::compile(target.request.body, target.request.body_is_json
                                                              ? WriteTemplate::Escape::json_string
                                                              : WriteTemplate::Escape::none)),
        has_body_(!target.request.body.empty()),
        expect_(target.request.expect) {
    ensure_curl_initialised();
    handle_ = curl_easy_init();
    if (handle_ == nullptr) throw std::runtime_error("curl_easy_init failed");
    for (const auto& header : target.request.headers)
      headers_.push_back({header.name, WriteTemplate::compile(header.value, WriteTemplate::Escape::none)});
    headers_constant_ = std::all_of(headers_.begin(), headers_.end(), [](const auto& h) { return h.second.is_constant(); });
    if (headers_constant_) header_list_ = header_list({});
    if (!target.request.id_from.empty()) id_from_ = nlohmann::json::json_pointer(target.request.id_from);
    const std::string& method = target.request.method;
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS, static_cast<long>(target.timeout.count()));
    curl_easy_setopt(handle_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(target.timeout.count()));
    curl_easy_setopt(handle_, CURLOPT_TCP_NODELAY, 1L);
    // The run's own service on this machine: never through an http_proxy of the environment.
    curl_easy_setopt(handle_, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(handle_, CURLOPT_PROTOCOLS_STR, "http");
    if (id_from_) {
      curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, keep_answer);
      curl_easy_setopt(handle_, CURLOPT_WRITEDATA, &answer_);
    } else {
      curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, discard_curl_body);
    }
    if (method == "GET" && !has_body_) {
      curl_easy_setopt(handle_, CURLOPT_HTTPGET, 1L);
    } else if (method == "HEAD") {
      curl_easy_setopt(handle_, CURLOPT_NOBODY, 1L);
    } else {
      // A body (even an empty one) makes it a POST; another method keeps the body and changes the word.
      if (method != "POST") curl_easy_setopt(handle_, CURLOPT_CUSTOMREQUEST, method.c_str());
      if (!has_body_) curl_easy_setopt(handle_, CURLOPT_POSTFIELDSIZE, 0L);
      if (!has_body_) curl_easy_setopt(handle_, CURLOPT_POSTFIELDS, "");
    }
    if (header_list_) curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, header_list_);
  }

  ~HttpRequestWriter() override {
    curl_easy_cleanup(handle_);
    curl_slist_free_all(header_list_);
  }
  HttpRequestWriter(const HttpRequestWriter&) = delete;
  HttpRequestWriter& operator=(const HttpRequestWriter&) = delete;

  WriteResult write(const WriteVariables& variables) override {
    const std::string url = base_ + path_.render(variables);
    curl_easy_setopt(handle_, CURLOPT_URL, url.c_str());
    std::string body;
    if (has_body_) {
      body = body_.render(variables);
      curl_easy_setopt(handle_, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(handle_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_slist* per_write = nullptr;
    if (!headers_constant_) {
      per_write = header_list(variables);
      curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, per_write);
    }
    answer_.clear();
    const CURLcode code = curl_easy_perform(handle_);
    curl_slist_free_all(per_write);
    if (code == CURLE_OPERATION_TIMEDOUT) return {WriteOutcome::timeout, curl_easy_strerror(code), {}};
    if (code != CURLE_OK) return {WriteOutcome::error, curl_easy_strerror(code), {}};
    long status = 0;
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &status);
    if (!status_expected(status, expect_)) return {WriteOutcome::error, fmt::format("HTTP {}", status), {}};
    if (!id_from_) return {WriteOutcome::ok, {}, {}};
    std::string id = id_at(answer_, *id_from_);
    // Acknowledged but not identifiable: it cannot be looked for afterwards, so it is not counted
    // as acknowledged (and never as lost).
    if (id.empty())
      return {WriteOutcome::error, fmt::format("HTTP {} without an id at {}", status, id_from_->to_string()), {}};
    return {WriteOutcome::ok, {}, std::move(id)};
  }

 private:
  curl_slist* header_list(const WriteVariables& variables) const {
    curl_slist* list = nullptr;
    for (const auto& [name, value] : headers_)
      list = curl_slist_append(list, fmt::format("{}: {}", name, value.render(variables)).c_str());
    return list;
  }

  std::string base_;
  WriteTemplate path_;
  WriteTemplate body_;
  bool has_body_;
  std::vector<std::pair<std::string, WriteTemplate>> headers_;
  bool headers_constant_ = true;
  std::vector<int> expect_;
  std::optional<nlohmann::json::json_pointer> id_from_;
  CURL* handle_ = nullptr;
  curl_slist* header_list_ = nullptr;
  std::string answer_;
};

class SqlRequestWriter final : public RequestWriter {
 public:
  explicit SqlRequestWriter(const WriteTarget& target)
      : conninfo_(conninfo_with_timeout(target.conninfo, target.timeout)),
        timeout_(target.timeout),
        in_transaction_(target.request.transaction || target.request.statements.size() > 1) {
    for (const std::string& statement : target.request.statements)
      statements_.push_back({statement, highest_sql_parameter(statement)});
  }

  WriteResult write(const WriteVariables& variables) override {
    try {
      if (!connection_) {
        connection_ = std::make_unique<pqxx::connection>(conninfo_);
      }
    } catch (const std::exception& e) {
      connection_.reset();
      return {WriteOutcome::error, "connect: " + first_line(e.what()), {}};
    }
    deadline_.arm(connection_->sock(), timeout_);
    try {
      if (in_transaction_) {
        pqxx::work transaction(*connection_);
        run_all(transaction, variables);
        transaction.commit();
      } else {
        // One autocommit statement: committed (and durable, with fsync on) when it returns, in one
        // round trip instead of the three of BEGIN / INSERT / COMMIT.
        pqxx::nontransaction statement(*connection_);
        run_all(statement, variables);
      }
      if (deadline_.disarm()) connection_.reset();  // answered just as the socket was shut: it did commit
      return {WriteOutcome::ok, {}, {}};
    } catch (const std::exception& e) {
      const bool timed_out = deadline_.disarm();
      // Reconnecting after any error also follows a failover that repointed the address.
      connection_.reset();
      if (timed_out) return {WriteOutcome::timeout, fmt::format("no answer within {} ms", timeout_.count()), {}};
      return {WriteOutcome::error, first_line(e.what()), {}};
    }
  }

 private:
  struct Statement {
    std::string text;
    int parameters;  // $1 the write's id, $2 its time
  };
  void run_all(pqxx::transaction_base& transaction, const WriteVariables& variables) {
    const std::string id(variables.id), time(variables.time);
    // Unnamed statements, not prepared ones: a pooler in transaction mode (PgBouncer) hands each
    // transaction another server connection, where a prepared statement does not exist.
    for (const Statement& statement : statements_) {
      if (statement.parameters >= 2)
        transaction.exec_params(statement.text, id, time);
      else if (statement.parameters == 1)
        transaction.exec_params(statement.text, id);
      else
        transaction.exec(statement.text);
    }
  }

  std::string conninfo_;
  std::chrono::milliseconds timeout_;
  bool in_transaction_;
  std::vector<Statement> statements_;
  std::unique_ptr<pqxx::connection> connection_;
  SocketDeadline deadline_;
};

class RedisRequestWriter final : public RequestWriter {
 public:
  explicit RedisRequestWriter(const WriteTarget& target)
      : link_(target.host, target.port, target.sentinel, target.timeout, target.password), timeout_(target.timeout) {
    for (const std::string& word : target.request.command)
      words_.push_back(WriteTemplate::compile(word, WriteTemplate::Escape::none));
  }

  WriteResult write(const WriteVariables& variables) override {
    std::string error;
    redisContext* context = link_.connection(error);
    if (context == nullptr) return {WriteOutcome::error, error, {}};
    std::vector<std::string> words;
    words.reserve(words_.size());
    for (const WriteTemplate& word : words_) words.push_back(word.render(variables));
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const std::string& word : words) {
      argv.push_back(word.data());
      lengths.push_back(word.size());
    }
    const auto started = std::chrono::steady_clock::now();
    std::unique_ptr<redisReply, void (*)(redisReply*)> reply{
        static_cast<redisReply*>(redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data())),
        [](redisReply* r) { freeReplyObject(r); }};
    if (reply && reply->type != REDIS_REPLY_ERROR) return {WriteOutcome::ok, {}, {}};
    // Any failure, READONLY from a demoted master included, sends the next write through the
    // sentinels again.
    WriteResult result;
    if (reply) {
      result = {WriteOutcome::error, std::string(reply->str, reply->len), {}};
    } else if (std::chrono::steady_clock::now() - started >= timeout_ * 9 / 10) {
      result = {WriteOutcome::timeout, fmt::format("no answer within {} ms", timeout_.count()), {}};
    } else {
      result = {WriteOutcome::error, context->errstr[0] != '\0' ? context->errstr : "connection lost", {}};
    }
    link_.drop();
    return result;
  }

 private:
  RedisMasterLink link_;
  std::chrono::milliseconds timeout_;
  std::vector<WriteTemplate> words_;
};

}  // namespace

std::unique_ptr<RequestWriter> make_request_writer(const WriteTarget& target) {
  const std::string& kind = target.request.kind;
  if (kind == "http") return std::make_unique<HttpRequestWriter>(target);
  if (kind == "sql") return std::make_unique<SqlRequestWriter>(target);
  if (kind == "redis") return std::make_unique<RedisRequestWriter>(target);
  throw std::invalid_argument(fmt::format("unknown write kind '{}'", kind));
}

void prepare_write_target(const WriteTarget& target) {
  if (target.request.kind != "sql" || target.request.setup.empty()) return;
  const auto give_up = std::chrono::steady_clock::now() + setup_budget;
  std::string last_error;
  while (std::chrono::steady_clock::now() < give_up) {
    try {
      pqxx::connection connection(conninfo_with_timeout(target.conninfo, target.timeout));
      SocketDeadline deadline;
      deadline.arm(connection.sock(), setup_budget);
      pqxx::nontransaction statement(connection);
      for (const std::string& setup : target.request.setup) statement.exec(setup);
      if (deadline.disarm()) throw std::runtime_error("no answer within the setup's 10 s");
      return;
    } catch (const std::exception& e) {
      last_error = first_line(e.what());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  throw std::runtime_error(fmt::format("the writer's setup failed: {}", last_error));
}

}  // namespace firedrill
