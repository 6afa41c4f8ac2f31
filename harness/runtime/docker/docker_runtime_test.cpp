#include "harness/runtime/docker/docker_runtime.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "harness/engine/run_cleanup.hpp"
#include "harness/runtime/docker/freezer.hpp"
#include "harness/runtime/docker/host_firewall.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// FAIL() and GTEST_SKIP() return from the test body, so this has to be a macro.
#define REQUIRE_DOCKER_ENGINE()                                                              \
  do {                                                                                       \
    const auto engine = docker::EngineApi::from_environment();                               \
    if (!engine.ping()) {                                                                    \
      const std::string why = "no Docker engine answers at " + engine.address();             \
      if (std::getenv("CI") != nullptr) FAIL() << why << " (CI is set, so this is a failure)"; \
      GTEST_SKIP() << why;                                                                   \
    }                                                                                        \
  } while (false)

std::string unique_run_id(const std::string& purpose) {
  static std::atomic<int> counter{0};
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return fmt::format("test-{}-{}-{}-{}", purpose, getpid(), counter++, now % 100000);
}

/// Removes everything labelled with the run when the test ends, however it ends.
class RunGuard {
 public:
  explicit RunGuard(std::string run_id) : run_id_(std::move(run_id)) {}
  RunGuard(const RunGuard&) = delete;
  RunGuard& operator=(const RunGuard&) = delete;
  ~RunGuard() {
    try {
      cleanup_docker(run_id_, false);
    } catch (const std::exception& error) {
      ADD_FAILURE() << "cleanup of " << run_id_ << " failed: " << error.what();
    }
  }
  const std::string& id() const { return run_id_; }

 private:
  std::string run_id_;
};

bool image_present(const std::string& image) {
  try {
    docker::EngineApi::from_environment().get(fmt::format("/images/{}/json", image));
    return true;
  } catch (const docker::EngineError&) {
    return false;
  }
}

ContainerSpec redis_spec() {
  ContainerSpec spec;
  spec.service = "cache";
  // firedrill/redis:7 is the scenario default; the base image carries redis-server too.
  spec.image = image_present("firedrill/redis:7") ? "firedrill/redis:7" : "firedrill/base:bookworm";
  spec.command = {"redis-server", "--protected-mode", "no", "--bind", "0.0.0.0"};
  spec.ports = {6379};
  spec.aliases = {"redis"};
  spec.volumes = {{"data", "/data"}};
  return spec;
}

/// "+PONG", "timeout", or "error: ..." for one PING over a fresh TCP connection.
std::string redis_ping(int port, std::chrono::milliseconds timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "error: socket";
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string result;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    result = fmt::format("error: connect: {}", strerror(errno));
  } else if (send(fd, "PING\r\n", 6, MSG_NOSIGNAL) != 6) {
    result = "error: send";
  } else {
    std::string reply;
    char buffer[64];
    while (reply.find("\r\n") == std::string::npos) {
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        result = "timeout";
        break;
      }
      if (n <= 0) {
        result = "error: connection closed";
        break;
      }
      reply.append(buffer, static_cast<size_t>(n));
    }
    if (result.empty()) result = reply.substr(0, reply.find("\r\n"));
  }
  close(fd);
  return result;
}

bool eventually_pongs(int port, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (redis_ping(port, 500ms) == "+PONG") return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

bool in_benchmark_range(const std::string& ip) {
  in_addr address{};
  if (inet_pton(AF_INET, ip.c_str(), &address) != 1) return false;
  return (ntohl(address.s_addr) & 0xFFFE0000u) == 0xC6120000u;  // 198.18.0.0/15
}

int pid_of_exited_child() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  return static_cast<int>(child);
}

ResourceCounts none() { return {}; }

void expect_counts(const ResourceCounts& actual, const ResourceCounts& expected) {
  EXPECT_EQ(actual.containers, expected.containers);
  EXPECT_EQ(actual.volumes, expected.volumes);
  EXPECT_EQ(actual.networks, expected.networks);
}

TEST(DockerRuntime, NetworkGetsABenchmarkSubnetWithoutMasquerade) {
  REQUIRE_DOCKER_ENGINE();
  RunGuard run(unique_run_id("net"));
  DockerRuntime runtime;
  std::vector<std::string> journal;
  runtime.begin_run(run.id(), "network-test", Owner::self(),
                    [&](const std::string& kind, const std::string& name) { journal.push_back(kind + " " + name); });
  runtime.create_network();
  runtime.create_network();

  const std::string subnet = runtime.subnet();
  ASSERT_TRUE(subnet.ends_with("/24")) << subnet;
  EXPECT_TRUE(in_benchmark_range(subnet.substr(0, subnet.find('/')))) << subnet;
  EXPECT_NE(subnet, "198.18.0.0/24");
  // As root, the run's own rule keeps its containers on this machine, journalled before it is made.
  if (can_change_host_firewall()) {
    EXPECT_EQ(journal, (std::vector<std::string>{"network fd-" + run.id(), "egress-rule " + subnet}));
    EXPECT_EQ(count_egress_rules(run.id()), 1);
  } else {
    EXPECT_EQ(journal, std::vector<std::string>{"network fd-" + run.id()});
  }

  const json network = docker::EngineApi::from_environment().get("/networks/" + runtime.network_name());
  EXPECT_EQ(network["IPAM"]["Config"][0]["Subnet"], subnet);
  EXPECT_EQ(network["Options"]["com.docker.network.bridge.enable_ip_masquerade"], "false");
  EXPECT_EQ(network["Labels"][labels::run], run.id());
  EXPECT_EQ(network["Labels"][labels::scenario], "network-test");
  EXPECT_EQ(network["Labels"][labels::owner], Owner::self().to_label());

  // A second run gets a different subnet.
  RunGuard other_run(unique_run_id("net2"));
  DockerRuntime other;
  other.begin_run(other_run.id(), "network-test", Owner::self(), nullptr);
  other.create_network();
  EXPECT_NE(other.subnet(), subnet);
  EXPECT_TRUE(in_benchmark_range(other.subnet().substr(0, other.subnet().find('/')))) << other.subnet();

  runtime.teardown();
  expect_counts(count_labelled(run.id()), none());
  EXPECT_EQ(count_labelled(other_run.id()).networks, 1);
  if (can_change_host_firewall()) {
    EXPECT_EQ(count_egress_rules(run.id()), 0);
    EXPECT_EQ(count_egress_rules(other_run.id()), 1);
    other.teardown();
    EXPECT_EQ(count_egress_rules(other_run.id()), 0);
  }
}

// `down` and `cleanup RUN_ID` remove a run by its labels; its egress rule has none, and is found by
// its comment.
TEST(DockerRuntime, RemovingARunByItsLabelsAlsoDeletesItsEgressRule) {
  REQUIRE_DOCKER_ENGINE();
  if (!can_change_host_firewall()) GTEST_SKIP() << "needs root and iptables";
  RunGuard run(unique_run_id("labels"));
  DockerRuntime runtime;
  runtime.begin_run(run.id(), "labels-test", Owner::self(), nullptr);
  runtime.create_network();
  ASSERT_EQ(count_egress_rules(run.id()), 1);
  const CleanupReport removed = cleanup_docker(run.id(), false);
  EXPECT_EQ(removed.errors, std::vector<std::string>{});
  EXPECT_EQ(removed.removed.networks, 1);
  EXPECT_EQ(count_egress_rules(run.id()), 0);
}

/// The packets the run's egress rule has rejected (-1 when it is in neither chain).
long packets_rejected_by_run_rule(const std::string& run_id) {
  FILE* listing = ::popen("{ iptables -w -L DOCKER-USER -v -n -x; iptables -w -L FORWARD -v -n -x; } 2>/dev/null", "r");
  if (listing == nullptr) return -1;
  long packets = -1;
  char line[1024];
  while (std::fgets(line, sizeof line, listing) != nullptr)
    if (std::string(line).find("firedrill-run:" + run_id) != std::string::npos) packets = std::strtol(line, nullptr, 10);
  ::pclose(listing);
  return packets;
}

// Security review 2, M13: without ci/setup's DOCKER-USER rule, an engine forwards what a container
// sends past this machine. The run's own rule comes first in DOCKER-USER and rejects a container's
// connection to outside 198.18.0.0/15 at once (setup's rule, after it, never sees the packet, even
// once other runs' networks made Docker put its jump first in FORWARD again), so no packet leaves
// (the address is TEST-NET-3's, which nothing routes anyway).
TEST(DockerRuntime, TheRunsOwnRuleKeepsItsContainersOnThisMachine) {
  REQUIRE_DOCKER_ENGINE();
  if (!can_change_host_firewall()) GTEST_SKIP() << "needs root and iptables";
  RunGuard run(unique_run_id("egress"));
  DockerRuntime runtime;
  runtime.begin_run(run.id(), "egress-test", Owner::self(), nullptr);
  runtime.create_network();
  EXPECT_EQ(packets_rejected_by_run_rule(run.id()), 0);
  ContainerSpec spec;
  spec.service = "probe";
  spec.image = "firedrill/base:bookworm";
  spec.command = {"sleep", "infinity"};
  runtime.start(spec);
  // bash's /dev/tcp: the REJECT's "port unreachable" refuses the connection at once.
  const auto started = std::chrono::steady_clock::now();
  const ExecResult attempt = runtime.exec(
      "probe", {"timeout", "5", "bash", "-c", "exec 3<>/dev/tcp/203.0.113.9/9 && echo connected"}, std::chrono::seconds(20));
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_NE(attempt.exit_code, 0) << attempt.output;
  EXPECT_EQ(attempt.output.find("connected"), std::string::npos) << attempt.output;
  EXPECT_NE(attempt.exit_code, 124) << "the connection was not refused at once: " << attempt.output;
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_GE(packets_rejected_by_run_rule(run.id()), 1);
  runtime.teardown();
  EXPECT_EQ(count_egress_rules(run.id()), 0);
}

// Security review 2, M10: a run whose id another run already has (two --out directories, one
// engine) once adopted that run's network, and either teardown then removed the other's containers.
TEST(DockerRuntime, ARunNeverAdoptsTheNetworkOfAnotherRunWithItsId) {
  REQUIRE_DOCKER_ENGINE();
  RunGuard run(unique_run_id("same"));
  DockerRuntime first;
  first.begin_run(run.id(), "network-test", Owner::self(), nullptr);
  first.create_network();

  DockerRuntime second;
  second.begin_run(run.id(), "network-test", Owner::self(), nullptr);
  try {
    second.create_network();
    ADD_FAILURE() << "the second run adopted the first run's network";
  } catch (const EnvironmentError& error) {
    EXPECT_NE(std::string(error.what()).find("a network of that name already exists"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(second.subnet().empty());
  ContainerSpec spec;
  spec.service = "idle";
  spec.image = "firedrill/base:bookworm";
  spec.command = {"sleep", "300"};
  EXPECT_THROW(second.start(spec), EnvironmentError);
  EXPECT_EQ(count_labelled(run.id()).containers, 0) << "the second run started a container on the first one's network";
  first.teardown();
  expect_counts(count_labelled(run.id()), none());
}

TEST(DockerRuntime, RedisContainerLifecycle) {
  REQUIRE_DOCKER_ENGINE();
  RunGuard run(unique_run_id("redis"));
  DockerRuntime runtime;
  std::vector<std::string> journal;
  runtime.begin_run(run.id(), "redis-test", Owner::self(),
                    [&](const std::string& kind, const std::string& name) { journal.push_back(kind + " " + name); });
  const ContainerSpec spec = redis_spec();
  const ContainerInfo info = runtime.start(spec);

  EXPECT_EQ(info.name, "fd-" + run.id() + "-cache");
  EXPECT_FALSE(info.id.empty());
  EXPECT_TRUE(info.image_id.starts_with("sha256:")) << info.image_id;
  EXPECT_TRUE(in_benchmark_range(info.ip)) << info.ip;
  ASSERT_EQ(info.host_ports.count(6379), 1u);
  const int port = info.host_ports.at(6379);
  EXPECT_GT(port, 0);
  std::vector<std::string> expected_journal{"network fd-" + run.id(), "volume fd-" + run.id() + "-cache-0",
                                            "container fd-" + run.id() + "-cache"};
  // As root, the run's egress rule follows its network (host_firewall.hpp).
  if (can_change_host_firewall()) expected_journal.insert(expected_journal.begin() + 1, "egress-rule " + runtime.subnet());
  EXPECT_EQ(journal, expected_journal);

  const auto api = docker::EngineApi::from_environment();
  const json container = api.get("/containers/" + info.name + "/json");
  EXPECT_EQ(container["Config"]["Labels"][labels::run], run.id());
  EXPECT_EQ(container["Config"]["Labels"][labels::scenario], "redis-test");
  EXPECT_EQ(container["Config"]["Labels"][labels::owner], Owner::self().to_label());
  EXPECT_EQ(container["Config"]["Labels"][labels::service], "cache");
  EXPECT_EQ(container["HostConfig"]["PortBindings"]["6379/tcp"][0]["HostIp"], "127.0.0.1");
  const auto& aliases = container["NetworkSettings"]["Networks"][runtime.network_name()]["Aliases"];
  EXPECT_NE(std::find(aliases.begin(), aliases.end(), "cache"), aliases.end()) << aliases.dump();
  EXPECT_NE(std::find(aliases.begin(), aliases.end(), "redis"), aliases.end()) << aliases.dump();
  expect_counts(count_labelled(run.id()), {.containers = 1, .networks = 1, .volumes = 1});

  ASSERT_TRUE(eventually_pongs(port, 10s)) << runtime.logs("cache");

  const ExecResult echoed = runtime.exec("cache", {"sh", "-c", "echo hi; echo err >&2; exit 3"}, 10s);
  EXPECT_EQ(echoed.exit_code, 3);
  EXPECT_NE(echoed.output.find("hi\n"), std::string::npos) << echoed.output;
  EXPECT_NE(echoed.output.find("err\n"), std::string::npos) << echoed.output;

  const auto exec_started = std::chrono::steady_clock::now();
  const ExecResult slow = runtime.exec("cache", {"sleep", "5"}, 300ms);
  EXPECT_EQ(slow.exit_code, -1);
  EXPECT_NE(slow.output.find("timed out"), std::string::npos) << slow.output;
  EXPECT_LT(std::chrono::steady_clock::now() - exec_started, 2s);

  // KILL returns once the service has stopped and the engine knows it, by either route: as root
  // beside this engine straight to the process, and through the engine when asked to.
  for (const auto route : {SignalRoute::fastest, SignalRoute::engine}) {
    const std::string via = runtime.send_signal("cache", "KILL", route);
    EXPECT_EQ(via, route == SignalRoute::engine || ::geteuid() != 0 ? "engine" : "direct");
    EXPECT_FALSE(runtime.is_running("cache")) << via;
    EXPECT_NE(redis_ping(port, 500ms), "+PONG") << via;
    EXPECT_EQ(docker::EngineApi::from_environment()
                  .get("/containers/" + runtime.container_name("cache") + "/json")["State"]
                  .value("ExitCode", 0),
              137)
        << via;
    runtime.start_again("cache");
    EXPECT_TRUE(runtime.is_running("cache")) << via;
    EXPECT_EQ(runtime.inspect("cache").host_ports.at(6379), port);
    EXPECT_TRUE(eventually_pongs(port, 10s)) << via;
  }

  runtime.pause("cache");
  EXPECT_EQ(redis_ping(port, 500ms), "timeout");
  EXPECT_TRUE(runtime.is_running("cache"));
  if (::geteuid() == 0) {
    // As root the container is frozen through its own cgroup, which the pid the engine gave was
    // checked to belong to (review 2, M11); the engine never saw a pause.
    const json paused = docker::EngineApi::from_environment().get("/containers/" + runtime.container_name("cache") + "/json");
    EXPECT_FALSE(paused["State"].value("Paused", true));
    const auto control = freezer_control_of(paused["State"].value("Pid", 0), paused.value("Id", std::string()));
    ASSERT_TRUE(control.has_value());
    if (control->filename() == "freezer.state") {
      std::string state;
      std::ifstream(*control) >> state;
      EXPECT_EQ(state, "FROZEN");
    }
  }
  runtime.unpause("cache");
  EXPECT_TRUE(eventually_pongs(port, 5s));

  runtime.restart("cache", 1s);
  EXPECT_EQ(runtime.inspect("cache").host_ports.at(6379), port);
  EXPECT_TRUE(eventually_pongs(port, 10s));

  EXPECT_NE(runtime.logs("cache").find("Ready to accept connections"), std::string::npos);

  runtime.teardown();
  expect_counts(count_labelled(run.id()), none());
  EXPECT_FALSE(runtime.is_running("cache"));
}

TEST(DockerRuntime, MissingImageIsAnEnvironmentError) {
  REQUIRE_DOCKER_ENGINE();
  RunGuard run(unique_run_id("noimage"));
  DockerRuntime runtime;
  runtime.begin_run(run.id(), "missing-image", Owner::self(), nullptr);
  ContainerSpec spec;
  spec.service = "ghost";
  spec.image = "firedrill/does-not-exist:0";
  try {
    runtime.start(spec);
    FAIL() << "a missing image started";
  } catch (const EnvironmentError& error) {
    EXPECT_STREQ(error.what(),
                 "image 'firedrill/does-not-exist:0' is not present; build the fixture images with "
                 "fixtures/images/build (ci/setup does)");
  }
  EXPECT_EQ(count_labelled(run.id()).containers, 0);
}

TEST(DockerRuntime, TeardownRemovesWhatAnotherProcessCreatedForTheRun) {
  REQUIRE_DOCKER_ENGINE();
  RunGuard run(unique_run_id("foreign"));
  DockerRuntime creator;
  creator.begin_run(run.id(), "teardown-test", Owner::self(), nullptr);
  ContainerSpec spec;
  spec.service = "idle";
  spec.image = "firedrill/base:bookworm";
  spec.command = {"sleep", "300"};
  spec.volumes = {{"scratch", "/scratch"}};
  creator.start(spec);
  expect_counts(count_labelled(run.id()), {.containers = 1, .networks = 1, .volumes = 1});

  DockerRuntime other;
  other.begin_run(run.id(), "teardown-test", Owner::self(), nullptr);
  other.teardown();
  expect_counts(count_labelled(run.id()), none());
}

TEST(DockerRuntime, TeardownCopesWithAContainerMidRestart) {
  REQUIRE_DOCKER_ENGINE();
  RunGuard run(unique_run_id("restarting"));
  DockerRuntime runtime;
  runtime.begin_run(run.id(), "teardown-test", Owner::self(), nullptr);
  ContainerSpec spec;
  spec.service = "stubborn";
  spec.image = "firedrill/base:bookworm";
  // sleep as PID 1 ignores TERM, so the restart sits in its grace period.
  spec.command = {"sleep", "300"};
  runtime.start(spec);

  std::thread restarting([&] {
    try {
      runtime.restart("stubborn", 3s);
    } catch (const std::exception&) {
      // Expected: the container disappears under the restart.
    }
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_NO_THROW(runtime.teardown());
  restarting.join();
  expect_counts(count_labelled(run.id()), none());
}

TEST(DockerCleanup, ReaperRemovesRunsOfDeadOwnersAndKeepsLiveOnes) {
  REQUIRE_DOCKER_ENGINE();
  RunGuard dead_run(unique_run_id("dead"));
  RunGuard live_run(unique_run_id("live"));

  Owner dead_owner = Owner::self();
  dead_owner.pid = pid_of_exited_child();
  DockerRuntime dead;
  dead.begin_run(dead_run.id(), "reaper-test", dead_owner, nullptr);
  ContainerSpec spec;
  spec.service = "idle";
  spec.image = "firedrill/base:bookworm";
  spec.command = {"sleep", "300"};
  spec.volumes = {{"scratch", "/scratch"}};
  dead.start(spec);

  DockerRuntime live;
  live.begin_run(live_run.id(), "reaper-test", Owner::self(), nullptr);
  live.create_network();

  expect_counts(count_labelled(dead_run.id()), {.containers = 1, .networks = 1, .volumes = 1});
  const CleanupReport report = reap_orphaned_runs();
  EXPECT_NE(std::find(report.runs.begin(), report.runs.end(), dead_run.id()), report.runs.end());
  EXPECT_EQ(std::find(report.runs.begin(), report.runs.end(), live_run.id()), report.runs.end());
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
  EXPECT_GE(report.removed.containers, 1);
  expect_counts(count_labelled(dead_run.id()), none());
  expect_counts(count_labelled(live_run.id()), {.containers = 0, .networks = 1, .volumes = 0});
}

TEST(DockerCleanup, CleanupDockerReportsWhatItRemoved) {
  REQUIRE_DOCKER_ENGINE();
  RunGuard run(unique_run_id("cleanup"));
  DockerRuntime runtime;
  runtime.begin_run(run.id(), "cleanup-test", Owner::self(), nullptr);
  ContainerSpec spec;
  spec.service = "idle";
  spec.image = "firedrill/base:bookworm";
  spec.command = {"sleep", "300"};
  spec.volumes = {{"a", "/a"}, {"b", "/b"}};
  runtime.start(spec);

  const CleanupReport report = cleanup_docker(run.id(), false);
  EXPECT_EQ(report.runs, std::vector<std::string>{run.id()});
  expect_counts(report.removed, {.containers = 1, .networks = 1, .volumes = 2});
  EXPECT_TRUE(report.errors.empty());
  expect_counts(count_labelled(run.id()), none());
  const CleanupReport again = cleanup_docker(run.id(), false);
  EXPECT_TRUE(again.runs.empty());
  expect_counts(again.removed, none());
}

/// What a shell command prints on this machine.
std::string run_shell(const std::string& command) {
  std::string output;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
    ::pclose(pipe);
  }
  return output;
}

// Security review 2, M12: copy_to read the whole file and then built the whole archive beside
// it, so a restore held its backup in memory twice.
TEST(DockerRuntime, CopyToStreamsAFileWithoutHoldingIt) {
  REQUIRE_DOCKER_ENGINE();
  RunGuard run(unique_run_id("copy"));
  DockerRuntime runtime;
  runtime.begin_run(run.id(), "copy-test", Owner::self(), nullptr);
  ContainerSpec spec;
  spec.service = "idle";
  spec.image = "firedrill/base:bookworm";
  spec.command = {"sleep", "300"};
  runtime.start(spec);

  const std::filesystem::path file = std::filesystem::temp_directory_path() / fmt::format("firedrill-copy-{}", getpid());
  constexpr std::size_t size = (std::size_t{96} << 20) + 321;  // not a multiple of the tar block
  {
    std::ofstream out(file, std::ios::binary);
    std::string block(1 << 20, '\0');
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 7 % 251);
    for (std::size_t written = 0; written < size; written += block.size())
      out.write(block.data(), static_cast<std::streamsize>(std::min(block.size(), size - written)));
  }
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  runtime.copy_to("idle", file, "/tmp/copied");
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  // ru_maxrss is the peak in KiB: holding the file once would add 96 MiB to it.
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 32 * 1024) << "copy_to held the file in memory";

  const ExecResult listed = runtime.exec("idle", {"sh", "-c", "wc -c </tmp/copied; cksum </tmp/copied"}, 60s);
  const auto local = run_shell(fmt::format("cksum <'{}'", file.string()));
  EXPECT_EQ(listed.output, fmt::format("{}\n{}", size, local)) << listed.output;
  std::filesystem::remove(file);
  runtime.teardown();
}

}  // namespace
}  // namespace firedrill
