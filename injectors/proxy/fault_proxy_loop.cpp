// FaultProxy's calls, each handed to its loop, and the checks of the addresses they take; the
// loop's opening and closing; the faults other threads set, which the loop adopts between two
// turns so that they govern every byte moved after set_faults() returns.
#include "injectors/proxy/fault_proxy_loop.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

namespace firedrill {
namespace {

bool allowed_ipv4(std::uint32_t host_order) {
  const bool loopback = (host_order >> 24) == 127;
  const bool drill_network = (host_order & 0xFFFE0000u) == 0xC6120000u;  // 198.18.0.0/15
  return loopback || drill_network;
}

Address parse_address(const std::string& host, std::uint16_t port, const char* role) {
  const std::string numeric = host == "localhost" ? "127.0.0.1" : host;
  Address address;
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, numeric.c_str(), &v4) == 1) {
    if (!allowed_ipv4(ntohl(v4.s_addr))) {
      throw std::invalid_argument(fmt::format(
          "fault proxy {} address '{}' is neither loopback nor in 198.18.0.0/15", role, host));
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(&address.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr = v4;
    address.length = sizeof(sockaddr_in);
    return address;
  }
  if (::inet_pton(AF_INET6, numeric.c_str(), &v6) == 1) {
    bool ok = IN6_IS_ADDR_LOOPBACK(&v6);
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      std::uint32_t embedded = 0;
      std::memcpy(&embedded, &v6.s6_addr[12], sizeof embedded);
      ok = allowed_ipv4(ntohl(embedded));
    }
    if (!ok) {
      throw std::invalid_argument(fmt::format(
          "fault proxy {} address '{}' is neither loopback nor in 198.18.0.0/15", role, host));
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = v6;
    address.length = sizeof(sockaddr_in6);
    return address;
  }
  throw std::invalid_argument(fmt::format(
      "fault proxy {} address '{}' is not a numeric IPv4/IPv6 address or 'localhost'", role,
      host));
}

}  // namespace

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string numeric_address(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text, sizeof text);
  } else if (address.ss_family == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6))
      ::inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof text);
    else
      ::inet_ntop(AF_INET6, &v6, text, sizeof text);
  }
  return text;
}

void FaultProxy::Loop::set_upstream(const Address& upstream) {
  std::lock_guard lock(mutex_);
  upstream_ = upstream;
}

Address FaultProxy::Loop::current_upstream() const {
  std::lock_guard lock(mutex_);
  return upstream_;
}

void FaultProxy::Loop::open() {
  listener_ = UniqueFd(::socket(listen_.storage.ss_family,
                                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener_.valid()) throw_errno("fault proxy: socket");
  const int on = 1;
  ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&listen_.storage),
             listen_.length) != 0) {
    const int error = errno;
    listener_.reset();
    throw std::system_error(error, std::generic_category(), "fault proxy: bind");
  }
  if (::listen(listener_.get(), 128) != 0) throw_errno("fault proxy: listen");
  spare_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length);
  port_ = ntohs(bound.ss_family == AF_INET
                    ? reinterpret_cast<const sockaddr_in*>(&bound)->sin_port
                    : reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);

  epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) throw_errno("fault proxy: epoll_create1");
  timer_ = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_.valid()) throw_errno("fault proxy: timerfd_create");
  {
    std::lock_guard lock(mutex_);
    wake_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake_.valid()) throw_errno("fault proxy: eventfd");
    running_ = true;
  }
  watch(listener_.get(), EPOLLIN, listener_token);
  watch(wake_.get(), EPOLLIN, wake_token);
  watch(timer_.get(), EPOLLIN, timer_token);
}

void FaultProxy::Loop::request_stop() {
  stopping_.store(true);
  wake();
}

// Returns once the loop has adopted the faults (at once if the loop is not running), so they
// govern every byte that moves after the call.
void FaultProxy::Loop::set_faults(const ProxyFaults& faults) {
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    shared_faults_ = faults;
    shared_faults_.reset_existing = false;
    shared_faults_.seed.reset();
    if (faults.reset_existing) ++reset_requests_;
    if (faults.seed) pending_seed_ = faults.seed;
    generation = ++requested_;
  }
  wake();
  std::unique_lock lock(mutex_);
  adopted_cv_.wait(lock, [&] { return adopted_ >= generation || !running_; });
}

ProxyFaults FaultProxy::Loop::faults() const {
  std::lock_guard lock(mutex_);
  return shared_faults_;
}

ProxyCounters FaultProxy::Loop::counters() const {
  ProxyCounters snapshot;
  snapshot.connections_accepted = accepted_.load();
  snapshot.connections_active = active_.load();
  snapshot.bytes_upstream = bytes_upstream_.load();
  snapshot.bytes_downstream = bytes_downstream_.load();
  snapshot.connections_refused = refused_.load();
  snapshot.bytes_spliced = bytes_spliced_.load();
  return snapshot;
}

// Closes whatever open() left behind when it threw, or what run() did not get to.
void FaultProxy::Loop::close_all() {
  connections_.clear();
  active_.store(0);
  listener_.reset();
  spare_.reset();
  timer_.reset();
  epoll_.reset();
  {
    std::lock_guard lock(mutex_);
    wake_.reset();
    running_ = false;
  }
  adopted_cv_.notify_all();
}

void FaultProxy::Loop::wake() {
  std::lock_guard lock(mutex_);
  if (wake_.valid()) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  }
}

void FaultProxy::Loop::adopt_faults() {
  std::uint64_t resets = 0;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    faults_ = shared_faults_;
    resets = reset_requests_;
    generation = requested_;
    if (pending_seed_) random_.seed(*std::exchange(pending_seed_, std::nullopt));
  }
  if (resets != resets_done_) {
    resets_done_ = resets;
    for (auto& [id, connection] : connections_) reset_connection(*connection);
    connections_.clear();
    active_.store(0);
  }
  pump_all();
  {
    std::lock_guard lock(mutex_);
    adopted_ = generation;
  }
  adopted_cv_.notify_all();
}

FaultProxy::FaultProxy(const std::string& listen_host, std::uint16_t listen_port,
                       const std::string& upstream_host, std::uint16_t upstream_port)
    : loop_(std::make_unique<Loop>(parse_address(listen_host, listen_port, "listen"),
                                   parse_address(upstream_host, upstream_port, "upstream"))) {}

FaultProxy::~FaultProxy() { stop(); }

void FaultProxy::start() {
  if (started_) throw std::logic_error("fault proxy already started");
  try {
    loop_->open();
  } catch (...) {
    loop_->close_all();
    throw;
  }
  thread_ = std::thread([this] { loop_->run(); });
  started_ = true;
}

void FaultProxy::stop() {
  if (!thread_.joinable()) return;
  loop_->request_stop();
  thread_.join();
}

std::uint16_t FaultProxy::port() const { return loop_->port(); }

const char* refusal_word(Refusal refusal) {
  switch (refusal) {
    case Refusal::source: return "source";
    case Refusal::connection_cap: return "connection-cap";
    case Refusal::descriptors: return "descriptors";
  }
  return "source";
}

void FaultProxy::accept_only_from(const std::vector<std::string>& addresses) {
  std::set<std::string> numeric;
  for (const auto& address : addresses) numeric.insert(numeric_address(parse_address(address, 0, "source").storage));
  loop_->accept_only_from(std::move(numeric));
}

void FaultProxy::set_connection_cap(std::size_t cap) { loop_->set_connection_cap(cap); }

void FaultProxy::on_first_refusal(std::function<void(Refusal, const std::string& peer)> observer) {
  if (started_) throw std::logic_error("on_first_refusal must be set before start()");
  loop_->on_first_refusal(std::move(observer));
}

void FaultProxy::set_faults(const ProxyFaults& faults) { loop_->set_faults(faults); }

void FaultProxy::set_upstream(const std::string& upstream_host, std::uint16_t upstream_port) {
  loop_->set_upstream(parse_address(upstream_host, upstream_port, "upstream"));
}

ProxyFaults FaultProxy::faults() const { return loop_->faults(); }

ProxyCounters FaultProxy::counters() const { return loop_->counters(); }

}  // namespace firedrill
