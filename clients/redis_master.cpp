#include "clients/redis_master.hpp"

#include <sys/time.h>

#include <memory>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

namespace firedrill {
namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(d.count() % 1000 * 1000);
  return tv;
}

struct ContextFree {
  void operator()(redisContext* context) const { redisFree(context); }
};
struct ReplyFree {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};

redisContext* connect_to(const std::string& host, int port, std::chrono::milliseconds timeout, std::string& error) {
  std::unique_ptr<redisContext, ContextFree> context{redisConnectWithTimeout(host.c_str(), port, to_timeval(timeout))};
  if (!context) {
    error = "connect: out of memory";
    return nullptr;
  }
  if (context->err != 0) {
    error = fmt::format("connect to {}:{}: {}", host, port, context->errstr);
    return nullptr;
  }
  redisSetTimeout(context.get(), to_timeval(timeout));
  return context.release();
}

}  // namespace

std::optional<MasterAddress> locate_master(const SentinelGroup& group, std::chrono::milliseconds timeout,
                                           std::string& error) {
  error = "the group has no sentinels";
  for (int sentinel_port : group.sentinel_ports) {
    std::unique_ptr<redisContext, ContextFree> sentinel{connect_to("127.0.0.1", sentinel_port, timeout, error)};
    if (!sentinel) continue;
    std::unique_ptr<redisReply, ReplyFree> reply{static_cast<redisReply*>(
        redisCommand(sentinel.get(), "SENTINEL get-master-addr-by-name %s", group.master_name.c_str()))};
    if (!reply) {
      error = fmt::format("sentinel at 127.0.0.1:{}: {}", sentinel_port, sentinel->errstr);
      continue;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_STRING) {
      error = fmt::format("sentinel at 127.0.0.1:{} does not know master '{}'", sentinel_port, group.master_name);
      continue;
    }
    const std::string name(reply->element[0]->str, reply->element[0]->len);
    auto published = group.published_ports.find(name);
    // Servers sharing one address (all on 127.0.0.1) are told apart by their port.
    if (published == group.published_ports.end() && reply->element[1]->type == REDIS_REPLY_STRING)
      published = group.published_ports.find(name + ":" + std::string(reply->element[1]->str, reply->element[1]->len));
    if (published == group.published_ports.end()) {
      error = fmt::format("sentinel at 127.0.0.1:{} names master '{}', not a server of the group", sentinel_port, name);
      continue;
    }
    return MasterAddress{published->first, published->second};
  }
  return std::nullopt;
}

RedisMasterLink::RedisMasterLink(std::string host, int port, std::optional<SentinelGroup> group,
                                 std::chrono::milliseconds timeout, std::string password)
    : host_(std::move(host)), port_(port), group_(std::move(group)), timeout_(timeout), password_(std::move(password)) {}

RedisMasterLink::~RedisMasterLink() { drop(); }

redisContext* RedisMasterLink::connection(std::string& error) {
  if (context_ != nullptr) return context_;
  std::string host = host_;
  int port = port_;
  std::string server = fmt::format("{}:{}", host_, port_);
  if (group_) {
    auto master = locate_master(*group_, timeout_, error);
    if (!master) return nullptr;
    host = "127.0.0.1";
    port = master->port;
    server = master->name;
  }
  context_ = connect_to(host, port, timeout_, error);
  if (context_ == nullptr) return nullptr;
  if (!password_.empty()) {
    std::unique_ptr<redisReply, ReplyFree> reply{
        static_cast<redisReply*>(redisCommand(context_, "AUTH %b", password_.data(), password_.size()))};
    // The server's answer, never the password: a refused AUTH says WRONGPASS or that none is set.
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
      error = fmt::format("AUTH at {}: {}", server,
                          !reply ? std::string(context_->errstr) : std::string(reply->str, reply->len));
      drop();
      return nullptr;
    }
  }
  server_ = server;
  return context_;
}

void RedisMasterLink::drop() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

}  // namespace firedrill
