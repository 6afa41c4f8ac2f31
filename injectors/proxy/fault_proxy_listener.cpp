// The listener's side of the loop: each waiting connection accepted, turned away (reset, counted,
// reported once per reason) when its peer is not admitted, the cap is reached, `refuse` is set or
// no descriptor is left, else connected to the upstream of the moment and handed to the relay.
#include "injectors/proxy/fault_proxy_loop.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

namespace firedrill {
namespace {

// How long the listener rests when no descriptor is left even to turn a connection away.
constexpr auto listener_rest = std::chrono::milliseconds(100);

void set_no_delay(int fd) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

}  // namespace

void FaultProxy::Loop::accept_only_from(std::set<std::string> addresses) {
  std::lock_guard lock(mutex_);
  admitted_ = std::move(addresses);
}

void FaultProxy::Loop::set_connection_cap(std::size_t cap) { cap_.store(cap); }

void FaultProxy::Loop::on_first_refusal(std::function<void(Refusal, const std::string&)> observer) {
  observer_ = std::move(observer);
}

bool FaultProxy::Loop::admits(const std::string& peer) const {
  std::lock_guard lock(mutex_);
  return !admitted_ || admitted_->count(peer) != 0;
}

// Counted and reported before the reset, so whoever sees the reset also sees the refusal.
void FaultProxy::Loop::refuse(UniqueFd& client, Refusal reason, const std::string& peer) {
  refused_.fetch_add(1);
  auto& seen = refused_once_[static_cast<std::size_t>(reason)];
  if (!seen && observer_) {
    try {
      observer_(reason, peer);
    } catch (...) {
      // An observer that fails must not take the proxy's loop down with it.
    }
  }
  seen = true;
  client.reset_with_rst();
}

/// Out of descriptors, the waiting connection keeps the level-triggered listener ready, and the
/// loop would spin on it. The spare descriptor makes room to take the connection and reset it;
/// without one the listener rests for a moment instead.
void FaultProxy::Loop::turn_away_for_want_of_descriptors() {
  if (spare_.valid()) {
    spare_.reset();
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    UniqueFd client(::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_CLOEXEC));
    const bool taken = client.valid();
    if (taken) refuse(client, Refusal::descriptors, numeric_address(peer));
    spare_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (taken && spare_.valid()) return;
  }
  listener_resume_at_ = SteadyClock::now() + listener_rest;
  rewatch(listener_.get(), 0, listener_token);
}

void FaultProxy::Loop::accept_all() {
  for (;;) {
    sockaddr_storage peer_address{};
    socklen_t peer_length = sizeof peer_address;
    UniqueFd client(::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer_address), &peer_length,
                              SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!client.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) turn_away_for_want_of_descriptors();
      return;  // EAGAIN: nothing more waits
    }
    accepted_.fetch_add(1);
    const std::string peer = numeric_address(peer_address);
    if (!admits(peer)) {
      refuse(client, Refusal::source, peer);
      continue;
    }
    if (connections_.size() >= cap_.load()) {
      refuse(client, Refusal::connection_cap, peer);
      continue;
    }
    if (faults_.refuse) {
      client.reset_with_rst();
      continue;
    }
    auto connection = std::make_unique<Connection>();
    connection->client = std::move(client);
    const Address upstream = current_upstream();
    connection->upstream = UniqueFd(::socket(upstream.storage.ss_family,
                                             SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!connection->upstream.valid()) {
      connection->client.reset_with_rst();
      continue;
    }
    set_no_delay(connection->client.get());
    set_no_delay(connection->upstream.get());
    const int rc = ::connect(connection->upstream.get(),
                             reinterpret_cast<const sockaddr*>(&upstream.storage),
                             upstream.length);
    if (rc != 0 && errno != EINPROGRESS) {
      connection->client.reset_with_rst();
      continue;
    }
    connection->upstream_connected = rc == 0;
    const std::uint64_t id = next_id_++;
    constexpr std::uint32_t mask = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    watch(connection->client.get(), mask, id << 1);
    watch(connection->upstream.get(), mask, (id << 1) | 1);
    connections_.emplace(id, std::move(connection));
    active_.store(connections_.size());
    pump(id);
  }
}

}  // namespace firedrill
