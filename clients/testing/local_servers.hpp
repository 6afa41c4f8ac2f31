#pragma once
// Real Postgres and Redis servers for integration tests, run as local processes on loopback in a
// temporary directory and stopped when the object goes away.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>
#include <string>

namespace firedrill::testing {

/// Waits (bounded) until `done` holds; returns whether it did.
template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds within = std::chrono::seconds(10)) {
  const auto give_up = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < give_up) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

/// A loopback port whose accept queue is full, so the kernel drops every new SYN: to a client it
/// is an address that does not answer, like a stopped container's behind a dropped route.
class UnansweringPort {
 public:
  UnansweringPort();
  ~UnansweringPort();
  UnansweringPort(const UnansweringPort&) = delete;
  UnansweringPort& operator=(const UnansweringPort&) = delete;
  int port() const { return port_; }

 private:
  int listener_;
  int port_ = 0;
  std::vector<int> clients_;
};

/// A loopback TCP port that was free a moment ago.
int free_port();

/// A fresh temporary directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// A Postgres 15 cluster (initdb once, then start/stop at will) with trust authentication for the
/// user `firedrill`. Run as the `postgres` user when the tests run as root, as initdb requires.
class LocalPostgres {
 public:
  LocalPostgres();
  ~LocalPostgres();
  LocalPostgres(const LocalPostgres&) = delete;
  LocalPostgres& operator=(const LocalPostgres&) = delete;

  /// Starts the server and waits until it accepts connections; throws when it does not.
  void start();
  /// Stops at once, like a crash (`pg_ctl stop -m immediate`).
  void stop();
  /// Freezes the postmaster and every backend (SIGSTOP), like `docker pause`; resume() thaws them.
  void pause();
  void resume();
  int port() const { return port_; }
  std::string conninfo() const;

 private:
  void run(const std::string& command) const;
  void signal_all(int signal) const;
  TempDir dir_;
  int port_;
  bool running_ = false;
  bool paused_ = false;
};

/// A redis-server without persistence; with a password, it asks for it (requirepass, in a
/// configuration file of the server's directory, never an argument).
class LocalRedis {
 public:
  explicit LocalRedis(std::string password = {});
  ~LocalRedis();
  LocalRedis(const LocalRedis&) = delete;
  LocalRedis& operator=(const LocalRedis&) = delete;

  /// Starts the server on the same port as before and waits until it answers PING.
  void start();
  /// Kills the server (SIGKILL) and reaps it.
  void stop();
  int port() const { return port_; }

 private:
  TempDir dir_;
  int port_;
  std::string password_;
  pid_t pid_ = -1;
};

}  // namespace firedrill::testing
