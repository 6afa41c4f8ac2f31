#pragma once
// How the harness reaches a Redis that Sentinel manages: it asks the sentinels which server is the
// master (they name it as announced, e.g. `cache-replica-1`) and maps that name to the port the
// server is published on at 127.0.0.1. The workload, the probes and the read-back share this, so
// they all follow a failover the way a Sentinel-aware client does.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

struct redisContext;

namespace firedrill {

/// A Sentinel-managed Redis group as the harness sees it.
struct SentinelGroup {
  std::string master_name;                      // the name the sentinels monitor it under
  std::vector<int> sentinel_ports;              // each sentinel's port on 127.0.0.1
  // server name as Sentinel reports it, or "name:port" where names are shared -> port on 127.0.0.1
  std::map<std::string, int> published_ports;
};

/// The master a sentinel reported, and where the harness reaches it.
struct MasterAddress {
  std::string name;  // as Sentinel reports it
  int port = 0;      // on 127.0.0.1
};

/// Asks the sentinels in turn `SENTINEL get-master-addr-by-name` (each bounded by `timeout`) and
/// returns the first answer naming a server of the group; nothing, with `error` saying why, when
/// no sentinel answered so.
std::optional<MasterAddress> locate_master(const SentinelGroup& group, std::chrono::milliseconds timeout,
                                           std::string& error);

/// One connection to a Redis server: the fixed host:port, or, with a group, its current master,
/// authenticated with `password` when one is given (the sentinels answer where the master is
/// without one). A failed command should be followed by drop(); the next connection() asks the
/// sentinels again, which is how a failover is followed. Not thread-safe: one per thread.
class RedisMasterLink {
 public:
  RedisMasterLink(std::string host, int port, std::optional<SentinelGroup> group, std::chrono::milliseconds timeout,
                  std::string password = {});
  ~RedisMasterLink();
  RedisMasterLink(const RedisMasterLink&) = delete;
  RedisMasterLink& operator=(const RedisMasterLink&) = delete;

  /// The connected context (connecting first if needed), or nullptr with `error` saying why.
  redisContext* connection(std::string& error);
  /// Closes the connection, so the next connection() locates the master again.
  void drop();
  /// The server connected to: "host:port", or the master's name in a group.
  const std::string& server() const { return server_; }

 private:
  std::string host_;
  int port_;
  std::optional<SentinelGroup> group_;
  std::chrono::milliseconds timeout_;
  std::string password_;
  redisContext* context_ = nullptr;
  std::string server_;
};

}  // namespace firedrill
