#include "clients/testing/local_servers.hpp"

#include <poll.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <hiredis/hiredis.h>

namespace firedrill::testing {
namespace {

constexpr const char* postgres_bin = "/usr/lib/postgresql/15/bin";

bool running_as_root() { return ::geteuid() == 0; }

}  // namespace

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "firedrill-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

LocalPostgres::LocalPostgres() : port_(free_port()) {
  if (running_as_root()) {
    const std::string chown = fmt::format("chown postgres: {}", dir_.path().string());
    if (std::system(chown.c_str()) != 0) throw std::runtime_error("command failed: " + chown);
  }
  run(fmt::format("{}/initdb -D {}/data -U firedrill --auth=trust -E UTF8 --no-sync > {}/initdb.log 2>&1",
                  postgres_bin, dir_.path().string(), dir_.path().string()));
  start();
}

LocalPostgres::~LocalPostgres() {
  try {
    stop();
  } catch (...) {
    // The temporary directory goes anyway.
  }
}

void LocalPostgres::run(const std::string& command) const {
  const std::string full = running_as_root() ? "runuser -u postgres -- sh -c '" + command + "'" : command;
  if (std::system(full.c_str()) != 0) throw std::runtime_error("command failed: " + full);
}

void LocalPostgres::start() {
  // pg_ctl leaves the server behind as an orphan. Adopted by this process, it is reaped here when
  // it stops; left to a PID 1 that does not reap, it would stay a zombie for good.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  const std::string dir = dir_.path().string();
  run(fmt::format("{}/pg_ctl -D {}/data -l {}/postgres.log -w -t 30 -o \"-p {} -k {} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off\" start > /dev/null",
                  postgres_bin, dir, dir, port_, dir));
  running_ = true;
}

void LocalPostgres::stop() {
  if (!running_) return;
  if (paused_) resume();
  pid_t postmaster = 0;
  std::ifstream(dir_.path() / "data" / "postmaster.pid") >> postmaster;
  run(fmt::format("{}/pg_ctl -D {}/data -m immediate -w stop > /dev/null", postgres_bin, dir_.path().string()));
  running_ = false;
  // pg_ctl returns once the pid file is gone, a moment before the postmaster has exited.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (postmaster > 0 && ::waitpid(postmaster, nullptr, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

void LocalPostgres::signal_all(int signal) const {
  std::ifstream pid_file(dir_.path() / "data" / "postmaster.pid");
  pid_t postmaster = 0;
  if (!(pid_file >> postmaster) || postmaster <= 0) throw std::runtime_error("no postmaster.pid");
  std::vector<pid_t> pids = {postmaster};
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // Fields after the command name, which ends with the last ')': state, ppid, ...
    std::istringstream rest(line.substr(line.rfind(')') + 1));
    std::string state;
    pid_t parent = 0;
    if (rest >> state >> parent && parent == postmaster) pids.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  for (const pid_t pid : pids) ::kill(pid, signal);
}

void LocalPostgres::pause() {
  signal_all(SIGSTOP);
  paused_ = true;
}

void LocalPostgres::resume() {
  signal_all(SIGCONT);
  paused_ = false;
}

std::string LocalPostgres::conninfo() const {
  return fmt::format("host=127.0.0.1 port={} user=firedrill dbname=postgres", port_);
}

LocalRedis::LocalRedis(std::string password) : port_(free_port()), password_(std::move(password)) {
  {
    std::ofstream config(dir_.path() / "redis.conf");
    std::string quoted;
    for (const char c : password_) quoted += c == '"' || c == '\\' ? std::string{'\\', c} : std::string{c};
    if (!password_.empty()) config << "requirepass \"" << quoted << "\"\n";
  }  // written and closed before the server reads it
  start();
}

LocalRedis::~LocalRedis() { stop(); }

void LocalRedis::start() {
  if (pid_ > 0) return;
  const std::string port = std::to_string(port_);
  const std::string dir = dir_.path().string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const std::string log = dir + "/redis.log";
    const std::string config = dir + "/redis.conf";
    ::execlp("redis-server", "redis-server", config.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", dir.c_str(), "--logfile", log.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < give_up) {
    timeval tv{1, 0};
    redisContext* context = redisConnectWithTimeout("127.0.0.1", port_, tv);
    bool up = false;
    if (context != nullptr && context->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(context, "PING"));
      // NOAUTH is an answer too: the server is up and asks for its password.
      up = reply != nullptr && (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_ERROR);
      if (reply != nullptr) freeReplyObject(reply);
    }
    if (context != nullptr) redisFree(context);
    if (up) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop();
  throw std::runtime_error("redis-server did not answer within 10 s");
}

void LocalRedis::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

UnansweringPort::UnansweringPort() : listener_(::socket(AF_INET, SOCK_STREAM, 0)) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(listener_, 0) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("cannot listen on loopback");
  }
  port_ = ntohs(address.sin_port);
  // Queue connections nobody accepts until one stays unanswered.
  for (int tries = 0; tries < 8; ++tries) {
    const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    clients_.push_back(client);
    ::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address);
    pollfd wait{client, POLLOUT, 0};
    if (::poll(&wait, 1, 100) == 0) return;
  }
  throw std::runtime_error("the accept queue never filled");
}

UnansweringPort::~UnansweringPort() {
  for (const int client : clients_) ::close(client);
  ::close(listener_);
}

}  // namespace firedrill::testing
