#include "clients/workload/read_back.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <curl/curl.h>
#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "clients/transport.hpp"
#include "clients/workload/write_template.hpp"

namespace firedrill {
namespace {

constexpr std::size_t sql_batch = 1000;
// Rows fetched at a time from a query that returns every id.
constexpr std::size_t sql_page = 10000;
constexpr std::size_t redis_batch = 500;
constexpr int max_pages = 100'000;

using SteadyTime = std::chrono::steady_clock::time_point;

std::chrono::milliseconds remaining(SteadyTime deadline) {
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
}

/// A Postgres array literal of `ids`: `{"a","b"}` with quotes and backslashes escaped.
std::string array_literal(std::vector<std::string>::const_iterator from, std::vector<std::string>::const_iterator to) {
  std::string out = "{";
  for (auto it = from; it != to; ++it) {
    if (it != from) out.push_back(',');
    out.push_back('"');
    for (const char c : *it) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

void read_back_sql(const ReadBackTarget& target, const std::vector<std::string>& ids, const IdSet& asked,
                   SteadyTime deadline, WriterReadback& entry, const Clock& clock) {
  const std::string& query = target.spec.query;
  try {
    pqxx::connection connection(conninfo_with_timeout(target.conninfo, remaining(deadline)));
    // One watchdog from here to the connection's end: BEGIN, every batch and the closing ROLLBACK.
    SocketDeadline watchdog;
    watchdog.arm(connection.sock(), remaining(deadline));
    pqxx::read_transaction transaction(connection);
    entry.t = clock.now();
    auto keep = [&](const pqxx::result& rows) {
      for (const auto& row : rows) {
        if (row.empty() || row[0].is_null()) continue;
        const std::string_view id(row[0].c_str(), row[0].size());
        if (asked.contains(id)) entry.present.insert(id);
      }
    };
    auto bounded = [&](auto&& run) {
      try {
        run();
      } catch (...) {
        if (watchdog.disarm()) throw std::runtime_error("no answer before the read-back's timeout");
        throw;
      }
    };
    if (highest_sql_parameter(query) == 0) {
      // Every id of a table that may be large: through a cursor, a page at a time, so memory
      // holds one page and never the table.
      std::string declared = query;
      while (!declared.empty() && (std::isspace(static_cast<unsigned char>(declared.back())) || declared.back() == ';'))
        declared.pop_back();
      bounded([&] { transaction.exec("DECLARE firedrill_read_back NO SCROLL CURSOR FOR " + declared); });
      for (bool more = true; more;) {
        bounded([&] {
          const pqxx::result page = transaction.exec(fmt::format("FETCH {} FROM firedrill_read_back", sql_page));
          keep(page);
          more = page.size() == sql_page;
        });
      }
      return;
    }
    for (std::size_t from = 0; from < ids.size(); from += sql_batch) {
      const auto end = ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), from + sql_batch));
      const std::string batch = array_literal(ids.begin() + static_cast<std::ptrdiff_t>(from), end);
      bounded([&] { keep(transaction.exec_params(query, batch)); });
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("read-back query of writer '{}': {}", target.writer, first_line(e.what())));
  }
}

struct Curl {
  CURL* handle = curl_easy_init();
  curl_slist* headers = nullptr;
  Curl() {
    if (handle == nullptr) throw std::runtime_error("curl_easy_init failed");
  }
  ~Curl() {
    curl_slist_free_all(headers);
    curl_easy_cleanup(handle);
  }
  Curl(const Curl&) = delete;
  Curl& operator=(const Curl&) = delete;
};

std::size_t append_answer(char* data, std::size_t size, std::size_t count, void* target) {
  // A page of ids is never this big; an answer that is has stopped being one (curl then fails
  // the request with a write error).
  constexpr std::size_t largest_page = 64u << 20;
  auto& answer = *static_cast<std::string*>(target);
  if (answer.size() + size * count > largest_page) return 0;
  answer.append(data, size * count);
  return size * count;
}

/// The contract's headers, each value compiled once for every GET of a read-back.
using CompiledHeaders = std::vector<std::pair<std::string, WriteTemplate>>;

CompiledHeaders compile_headers(const ReadBackSpec& spec) {
  CompiledHeaders headers;
  for (const auto& header : spec.headers)
    headers.emplace_back(header.name, WriteTemplate::compile(header.value, WriteTemplate::Escape::none));
  return headers;
}

/// A handle ready for GETs with the contract's headers (rendered for `id`, usually constant).
void prepare_get(Curl& curl, const CompiledHeaders& headers, const std::string& id, SteadyTime deadline) {
  curl_slist_free_all(curl.headers);
  curl.headers = nullptr;
  const WriteVariables variables{id, 0, {}};
  for (const auto& [name, value_template] : headers) {
    const std::string value = value_template.render(variables);
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      throw std::runtime_error(fmt::format("header '{}' would hold a line break", name));
    curl.headers = curl_slist_append(curl.headers, fmt::format("{}: {}", name, value).c_str());
  }
  curl_easy_setopt(curl.handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.handle, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl.handle, CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(curl.handle, CURLOPT_HTTPHEADER, curl.headers);
  curl_easy_setopt(curl.handle, CURLOPT_TIMEOUT_MS, static_cast<long>(remaining(deadline).count()));
  curl_easy_setopt(curl.handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(remaining(deadline).count()));
}

void read_back_http_list(const ReadBackTarget& target, const IdSet& asked, SteadyTime deadline, WriterReadback& entry,
                         const Clock& clock) {
  const ReadBackSpec& spec = target.spec;
  const nlohmann::json::json_pointer ids_at(spec.ids_at);
  std::optional<nlohmann::json::json_pointer> next_at;
  if (!spec.next_at.empty()) next_at = nlohmann::json::json_pointer(spec.next_at);
  const CompiledHeaders headers = compile_headers(spec);
  Curl curl;
  std::string answer;
  curl_easy_setopt(curl.handle, CURLOPT_WRITEFUNCTION, append_answer);
  curl_easy_setopt(curl.handle, CURLOPT_WRITEDATA, &answer);
  entry.t = clock.now();
  std::optional<std::string> after;
  for (int page = 0; page < max_pages; ++page) {
    std::string url = fmt::format("http://{}:{}{}", target.host, target.port, spec.path);
    if (after) {
      char* escaped = curl_easy_escape(curl.handle, after->c_str(), static_cast<int>(after->size()));
      url += fmt::format("{}{}={}", spec.path.find('?') == std::string::npos ? '?' : '&', spec.next_param, escaped);
      curl_free(escaped);
    }
    prepare_get(curl, headers, {}, deadline);
    curl_easy_setopt(curl.handle, CURLOPT_URL, url.c_str());
    answer.clear();
    const CURLcode code = curl_easy_perform(curl.handle);
    if (code != CURLE_OK) throw std::runtime_error(fmt::format("read-back GET {}: {}", url, curl_easy_strerror(code)));
    long status = 0;
    curl_easy_getinfo(curl.handle, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) throw std::runtime_error(fmt::format("read-back GET {}: HTTP {}", url, status));
    const auto json = nlohmann::json::parse(answer, nullptr, false);
    if (json.is_discarded()) throw std::runtime_error(fmt::format("read-back GET {}: the answer is not JSON", url));
    if (!json.contains(ids_at) || !json.at(ids_at).is_array())
      throw std::runtime_error(fmt::format("read-back GET {}: no array of ids at {}", url, spec.ids_at));
    for (const auto& id : json.at(ids_at)) {
      const std::string text = id.is_string() ? id.get<std::string>() : id.is_number_integer() ? id.dump() : std::string();
      if (!text.empty() && asked.contains(text)) entry.present.insert(text);
    }
    if (!next_at || !json.contains(*next_at) || json.at(*next_at).is_null()) return;
    const auto& next = json.at(*next_at);
    const std::string cursor = next.is_string() ? next.get<std::string>() : next.dump();
    if (after && cursor == *after) throw std::runtime_error(fmt::format("read-back GET {}: the cursor does not advance", url));
    after = cursor;
  }
  throw std::runtime_error("read-back: too many pages");
}

void read_back_http_each(const ReadBackTarget& target, const std::vector<std::string>& ids, SteadyTime deadline,
                         WriterReadback& entry, const Clock& clock) {
  const ReadBackSpec& spec = target.spec;
  const WriteTemplate path = WriteTemplate::compile(spec.path, WriteTemplate::Escape::url);
  const CompiledHeaders headers = compile_headers(spec);
  const std::vector<int> found = spec.found.empty() ? std::vector<int>{200} : spec.found;
  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  std::string first_error;
  std::vector<std::string> present;
  entry.t = clock.now();
  auto work = [&] {
    try {
      Curl curl;
      curl_easy_setopt(curl.handle, CURLOPT_WRITEFUNCTION, discard_curl_body);
      for (std::size_t i = next++; i < ids.size(); i = next++) {
        {
          std::lock_guard lock(mutex);
          if (!first_error.empty()) return;
        }
        if (std::chrono::steady_clock::now() >= deadline) throw std::runtime_error("no answer before the read-back's timeout");
        const std::string url =
            fmt::format("http://{}:{}{}", target.host, target.port, path.render(WriteVariables{ids[i], 0, {}}));
        prepare_get(curl, headers, ids[i], deadline);
        curl_easy_setopt(curl.handle, CURLOPT_URL, url.c_str());
        const CURLcode code = curl_easy_perform(curl.handle);
        if (code != CURLE_OK) throw std::runtime_error(fmt::format("GET {}: {}", url, curl_easy_strerror(code)));
        long status = 0;
        curl_easy_getinfo(curl.handle, CURLINFO_RESPONSE_CODE, &status);
        if (std::find(found.begin(), found.end(), static_cast<int>(status)) != found.end()) {
          std::lock_guard lock(mutex);
          present.push_back(ids[i]);
        } else if (status != 404 && status != 410) {
          throw std::runtime_error(fmt::format("GET {}: HTTP {}", url, status));
        }
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex);
      if (first_error.empty()) first_error = e.what();
    }
  };
  std::vector<std::thread> threads;
  for (int k = 0; k < std::max(1, spec.concurrency); ++k) threads.emplace_back(work);
  for (auto& thread : threads) thread.join();
  if (!first_error.empty()) throw std::runtime_error(fmt::format("read-back of writer '{}': {}", target.writer, first_error));
  for (const auto& id : present) entry.present.insert(id);
}

using RedisReply = std::unique_ptr<redisReply, void (*)(redisReply*)>;

timeval timeval_of(std::chrono::milliseconds span) {
  return timeval{static_cast<time_t>(span.count() / 1000), static_cast<suseconds_t>(span.count() % 1000 * 1000)};
}

RedisReply take_reply(redisContext* context) {
  void* raw = nullptr;
  if (redisGetReply(context, &raw) != REDIS_OK) raw = nullptr;
  return RedisReply{static_cast<redisReply*>(raw), [](redisReply* r) { freeReplyObject(r); }};
}

void read_back_redis_each(redisContext* context, const std::string& server, const ReadBackTarget& target,
                          const std::vector<std::string>& ids, SteadyTime deadline, WriterReadback& entry) {
  std::vector<WriteTemplate> words;
  for (const std::string& word : target.spec.command) words.push_back(WriteTemplate::compile(word, WriteTemplate::Escape::none));
  for (std::size_t from = 0; from < ids.size(); from += redis_batch) {
    if (std::chrono::steady_clock::now() >= deadline) throw std::runtime_error("no answer before the read-back's timeout");
    const std::size_t to = std::min(ids.size(), from + redis_batch);
    for (std::size_t i = from; i < to; ++i) {
      std::vector<std::string> rendered;
      for (const WriteTemplate& word : words) rendered.push_back(word.render(WriteVariables{ids[i], 0, {}}));
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      for (const auto& word : rendered) {
        argv.push_back(word.data());
        lengths.push_back(word.size());
      }
      redisAppendCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data());
    }
    for (std::size_t i = from; i < to; ++i) {
      if (std::chrono::steady_clock::now() >= deadline) throw std::runtime_error("no answer before the read-back's timeout");
      redisSetTimeout(context, timeval_of(remaining(deadline)));
      RedisReply reply = take_reply(context);
      if (!reply) throw std::runtime_error(fmt::format("read-back on {}: {}", server, context->errstr));
      if (reply->type == REDIS_REPLY_ERROR)
        throw std::runtime_error(fmt::format("read-back on {}: {}", server, std::string(reply->str, reply->len)));
      const bool absent = reply->type == REDIS_REPLY_NIL || (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) ||
                          (reply->type == REDIS_REPLY_ARRAY && reply->elements == 0);
      if (!absent) entry.present.insert(ids[i]);
    }
  }
}

void read_back_redis_scan(redisContext* context, const std::string& server, const ReadBackTarget& target,
                          const IdSet& asked, SteadyTime deadline, WriterReadback& entry) {
  const std::string prefix =
      target.id_prefix.empty() ? target.writer + "-" : target.id_prefix + "-" + target.writer + "-";
  // Run ids and writer names hold no glob characters, so the prefix is a literal MATCH pattern.
  const std::string pattern = prefix + "*";
  std::string cursor = "0";
  // Bounded: a SCAN over ten million keys in pages of 1000 ends well within this.
  for (int page = 0; page < 1'000'000; ++page) {
    if (std::chrono::steady_clock::now() >= deadline) throw std::runtime_error("no answer before the read-back's timeout");
    redisSetTimeout(context, timeval_of(remaining(deadline)));
    RedisReply reply{static_cast<redisReply*>(redisCommand(context, "SCAN %s MATCH %b COUNT 1000", cursor.c_str(),
                                                           pattern.data(), pattern.size())),
                     [](redisReply* r) { freeReplyObject(r); }};
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
      const std::string why = !reply ? std::string(context->errstr)
                              : reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len)
                                                                 : std::string("unexpected reply to SCAN");
      throw std::runtime_error(fmt::format("read-back of writer '{}' on {}: {}", target.writer, server, why));
    }
    for (std::size_t i = 0; i < reply->element[1]->elements; ++i) {
      const redisReply* key = reply->element[1]->element[i];
      if (key->type != REDIS_REPLY_STRING) continue;
      const std::string_view id(key->str, key->len);
      if (asked.contains(id)) entry.present.insert(id);
    }
    cursor.assign(reply->element[0]->str, reply->element[0]->len);
    if (cursor == "0") return;
  }
  throw std::runtime_error(fmt::format("read-back of writer '{}': SCAN did not finish", target.writer));
}

void read_back_redis(const ReadBackTarget& target, const std::vector<std::string>& ids, const IdSet& asked,
                     SteadyTime deadline, WriterReadback& entry, const Clock& clock) {
  RedisMasterLink link(target.host, target.port, target.sentinel, std::min(remaining(deadline), std::chrono::milliseconds(5000)),
                       target.password);
  std::string error;
  redisContext* context = link.connection(error);
  if (context == nullptr) throw std::runtime_error(fmt::format("read-back of writer '{}': {}", target.writer, error));
  entry.t = clock.now();
  if (target.spec.scan_prefix)
    read_back_redis_scan(context, link.server(), target, asked, deadline, entry);
  else
    read_back_redis_each(context, link.server(), target, ids, deadline, entry);
}

}  // namespace

WriterReadback read_back_writes(const ReadBackTarget& target, const std::vector<std::string>& ids, const Clock& clock) {
  ensure_curl_initialised();
  const auto budget = target.spec.timeout ? std::chrono::duration_cast<std::chrono::milliseconds>(*target.spec.timeout)
                                          : std::chrono::milliseconds(default_read_back_timeout);
  const SteadyTime deadline = std::chrono::steady_clock::now() + budget;
  IdSet asked;
  for (const auto& id : ids) asked.insert(id);
  WriterReadback entry;
  const std::string& kind = target.spec.kind;
  if (kind == "sql") {
    read_back_sql(target, ids, asked, deadline, entry, clock);
  } else if (kind == "http" && target.spec.ids_at.empty()) {
    read_back_http_each(target, ids, deadline, entry, clock);
  } else if (kind == "http") {
    read_back_http_list(target, asked, deadline, entry, clock);
  } else if (kind == "redis") {
    read_back_redis(target, ids, asked, deadline, entry, clock);
  } else {
    throw std::invalid_argument(fmt::format("unknown read-back kind '{}'", kind));
  }
  return entry;
}

}  // namespace firedrill
