// What a hostile image, a hostile container and another user of this machine can make the root
// harness do: nothing outside the run. Each test sets up the attack of security review 2 and
// checks the host afterwards.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <set>
#include <filesystem>
#include <functional>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "harness/runtime/cleanup.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::CommandOutcome;
using testing::files_holding;
using testing::read_file;
using testing::run_command;
const fs::path source_dir = FIREDRILL_SOURCE_DIR;

/// `text` with its first `from` replaced by `to` (the test fails when there is none).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

/// What `ps -eo args`, sampled every 10 ms while a drill runs, showed.
struct CommandLines {
  std::set<std::string> leaks;  // lines showing the password, or a value after password=/requirepass
  std::set<std::string> seen;   // the markers some line contained
  int samples = 0;
};

/// Samples every process's command line while `run` runs, looking for `password` and `markers`.
CommandLines sample_command_lines(const std::string& password, const std::vector<std::string>& markers,
                                  const std::function<void()>& run) {
  std::atomic<bool> done{false};
  CommandLines found;
  // A value after password= (a script's own text says password=%s or PGPASSWORD="$…"), or after
  // one of Redis' password directives (a script's own text names a variable: "$password").
  const std::regex assigned_password(
      R"(password=[^%"'$\s]|(requirepass|masterauth|auth-pass \S+|sentinel-pass)\s+"?[^"$\s])", std::regex::icase);
  std::thread sampler([&] {
    while (!done) {
      if (FILE* ps = ::popen("ps -eo args", "r")) {
        char line[8192];
        while (std::fgets(line, sizeof line, ps) != nullptr) {
          const std::string args = line;
          if (args.find(password) != std::string::npos || std::regex_search(args, assigned_password)) found.leaks.insert(args);
          for (const auto& marker : markers)
            if (args.find(marker) != std::string::npos) found.seen.insert(marker);
        }
        ::pclose(ps);
        ++found.samples;
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  run();
  done = true;
  sampler.join();
  return found;
}

/// A private state directory: runs of this test are indexed apart from anyone else's.
class SecurityTest : public testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped() || HasFailure()) return;
    ::setenv("FIREDRILL_STATE_DIR", (out_ / "state").c_str(), 1);
  }

  fs::path write_scenario(const std::string& name, const std::string& text) {
    const auto path = out_ / (name + ".yaml");
    std::ofstream(path) << text;
    return path;
  }

  /// The library scenario `file` with the service line `declared` given `env: { VARIABLE: password }`,
  /// drilled while every command line is sampled (sample_command_lines).
  std::pair<CommandOutcome, CommandLines> drill_sampling_command_lines(const std::string& file,
                                                                       const std::string& declared,
                                                                       const std::string& variable,
                                                                       const std::string& password,
                                                                       const std::vector<std::string>& markers) {
    std::string with_password = declared;
    with_password.insert(with_password.rfind(" }"), ", env: { " + variable + ": \"" + password + "\" }");
    const auto scenario =
        write_scenario("sampled", replaced(read_file(source_dir / "scenarios" / file), declared, with_password));
    CommandOutcome outcome;
    const auto found = sample_command_lines(password, markers, [&] { outcome = drill(scenario).first; });
    return {outcome, found};
  }

  /// The run id of the only run in out_, once its directory exists ("" after the deadline).
  std::string wait_for_run(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      std::error_code ignored;
      for (const auto& entry : fs::directory_iterator(out_, ignored))
        if (fs::exists(entry.path() / "journal.jsonl")) return entry.path().filename().string();
      std::this_thread::sleep_for(50ms);
    }
    return "";
  }
};

// H1: an image whose `ls` adds a name that climbs out of the base-backup directory.
TEST_F(SecurityTest, AHostileImagesListingCannotNameAHostPath) {
  const fs::path escape = "/tmp/FD_ESCAPE";
  fs::remove(escape);
  const fs::path context = out_ / "hostile-image";
  fs::create_directories(context);
  // Only when listing a backup directory: the image's entrypoint lists PGDATA too.
  std::ofstream(context / "ls") << "#!/bin/sh\n/bin/ls \"$@\"\ncase \"$*\" in *fd-backup*)\n"
                                   "  echo ../../../../../../../../../../../../../../../../tmp/FD_ESCAPE;;\nesac\n";
  std::ofstream(context / "Dockerfile") << "FROM firedrill/postgres:15\nCOPY ls /usr/local/bin/ls\n"
                                           "RUN chmod 755 /usr/local/bin/ls && echo pwned >/tmp/FD_ESCAPE\n";
  const auto built = run_command({"docker", "build", "-q", "-t", "firedrill/test-hostile-ls:latest", context.string()}, 120s);
  ASSERT_EQ(built.exit_code, 0) << built.output;

  const auto scenario = write_scenario("hostile-basebackup", R"(version: 1
name: hostile-basebackup
services:
  db: { kind: postgres, image: "firedrill/test-hostile-ls:latest" }
steps:
  - { name: back up, action: backup, target: db, method: basebackup }
)");
  const auto [outcome, report] = drill(scenario);
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  EXPECT_FALSE(fs::exists(escape)) << "the container wrote " << read_file(escape) << " on this machine";
  EXPECT_NE(outcome.output.find("which is not a file name"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("FD_ESCAPE"), std::string::npos) << outcome.output;
  fs::remove(escape);
}

// H2: an unprivileged user plants the disk-full file as a symlink to a file of theirs choosing,
// and root in the container turns a file of its own into a symlink to a host file for `corrupt`.
TEST_F(SecurityTest, NeitherAnotherUserNorTheContainerCanAimAFaultAtAHostFile) {
  const fs::path victim = fmt::format("/var/tmp/fd-victim-{}", ::getpid());
  const std::string original(4096, 'v');
  std::ofstream(victim) << original;
  fs::permissions(victim, fs::perms::all & ~(fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec));

  const auto scenario = write_scenario("planted", R"(version: 1
name: planted
services:
  cache: { kind: redis, disk: 64MiB }
steps:
  - { name: plant time, wait: 6s }
  - { name: fill, fault: disk-full, target: cache, duration: 1s }
  - { name: settle, wait: 1s }
  - { name: damage the link, fault: corrupt, what: file, path: /data/l, target: cache }
)");
  const int pid = testing::spawn_command({FIREDRILL_BINARY, "run", scenario.string(), "--out", out_.string()},
                                         (out_ / "run.log").string());
  const std::string run_id = wait_for_run(60s);
  ASSERT_FALSE(run_id.empty()) << read_file(out_ / "run.log");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (read_file(out_ / "run.log").find("plant time") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_NE(read_file(out_ / "run.log").find("plant time"), std::string::npos) << read_file(out_ / "run.log");

  const fs::path mount = size_limited_mount_directory(run_id, "cache");
  struct stat run_folder {}, data {};
  ASSERT_EQ(::stat(mount.parent_path().c_str(), &run_folder), 0);
  ASSERT_EQ(::stat(mount.c_str(), &data), 0);
  EXPECT_EQ(run_folder.st_mode & 0077, 0u) << "other users can reach the run's mounts";
  EXPECT_EQ(data.st_mode & 0002, 0u) << "the tmpfs is world-writable";
  const auto planted = run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ln", "-s",
                                    victim.string(), (mount / "firedrill-disk-full").string()},
                                   10s);
  EXPECT_NE(planted.exit_code, 0) << "user nobody planted the fill file";
  const auto linked = run_command({"docker", "exec", "fd-" + run_id + "-cache", "ln", "-s", victim.string(), "/data/l"}, 20s);
  EXPECT_EQ(linked.exit_code, 0) << linked.output;

  // The corrupt step fails (its file is no file inside the container's data), so the drill does.
  EXPECT_NE(testing::wait_command(pid), 0) << read_file(out_ / "run.log");
  EXPECT_EQ(read_file(victim), original) << "a fault wrote through a symlink into a host file";
  EXPECT_FALSE(fs::exists(mount.parent_path())) << "the run's mounts stayed";
  const std::string log = read_file(out_ / "run.log");
  EXPECT_NE(log.find("/data/l"), std::string::npos) << log;
  fs::remove(victim);
}

// M8: a password made only of '*' made the masking loop forever on the app's own masked URL
// (`postgresql://postgres:****@db…`), so the quickstart never finished.
TEST_F(SecurityTest, TheQuickstartWithAPasswordOfStarsPasses) {
  const auto scenario = write_scenario(
      "quickstart-stars", replaced(read_file(source_dir / "scenarios" / "quickstart.yaml"), "  db: { kind: postgres }",
                                   "  db: { kind: postgres, env: { POSTGRES_PASSWORD: \"****\" } }"));
  const auto outcome = firedrill({"run", scenario.string(), "--out", out_.string()}, 100s);
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  std::string verdict;
  for (const auto& entry : fs::directory_iterator(out_))
    if (fs::exists(entry.path() / "report.json"))
      verdict = nlohmann::json::parse(read_file(entry.path() / "report.json")).value("verdict", "");
  EXPECT_EQ(verdict, "pass");
}

// M14: a password with a space, `@ / : ? #`, a quote and a backslash, and a database name with a
// space, reach libpq quoted (the harness) and percent-encoded (the app's URL): the quickstart passes.
TEST_F(SecurityTest, TheQuickstartWithAHostilePasswordAndDatabaseNamePasses) {
  const auto scenario = write_scenario(
      "quickstart-hostile", replaced(read_file(source_dir / "scenarios" / "quickstart.yaml"), "  db: { kind: postgres }",
                                     R"(  db: { kind: postgres, env: { POSTGRES_PASSWORD: "p w@/:?#'\\x", POSTGRES_DB: "shop orders" } })"));
  const auto [outcome, report] = drill(scenario);
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(report.value("verdict", ""), "pass") << report["checks"].dump(2);
}

// M8: the Postgres password, a Redis password and a token in `env:` each reach an error (the
// statements below fail quoting them); none may be written anywhere in the run directory.
TEST_F(SecurityTest, NoSecretIsWrittenAnywhereInTheRunDirectory) {
  const auto scenario = write_scenario("secrets", R"(version: 1
name: secrets
services:
  db: { kind: postgres, env: { POSTGRES_PASSWORD: "pw-Kq38vXz", API_TOKEN: "tok-Mv52Lw" } }
  cache: { kind: redis, env: { REDIS_PASSWORD: "rpw-Tz81Bn" } }
steps:
  - { name: quote the password, action: sql, target: db, sql: "SELECT 'pw-Kq38vXz'::int", expect_error: invalid input }
  - { name: quote the token, action: sql, target: db, sql: "SELECT 'tok-Mv52Lw'::int", expect_error: invalid input }
  - { name: quote the redis password, action: sql, target: db, sql: "SELECT 'rpw-Tz81Bn'::int" }
)");
  const auto [outcome, report] = drill(scenario);
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  ASSERT_FALSE(run_dir_.empty()) << outcome.output;
  for (const std::string secret : {"pw-Kq38vXz", "tok-Mv52Lw", "rpw-Tz81Bn"}) {
    EXPECT_EQ(files_holding(run_dir_, secret), std::vector<std::string>{}) << secret;
    EXPECT_EQ(outcome.output.find(secret), std::string::npos) << secret << " on the terminal:\n" << outcome.output;
  }
  // The last statement's error was recorded, masked: the test saw the sinks the secrets reach.
  EXPECT_NE(report["steps"][2].value("error", "").find("******"), std::string::npos) << report["steps"].dump(2);
  EXPECT_FALSE(files_holding(run_dir_, "******").empty());
}

// M6: a Redis key that is not UTF-8 made the backup's manifest unwritable, so the backup failed.
TEST_F(SecurityTest, ARedisKeyThatIsNotUtf8DoesNotCostTheBackup) {
  const auto scenario = write_scenario("binary-key", R"(version: 1
name: binary-key
services:
  cache: { kind: redis, persistence: aof }
steps:
  - { name: write time, wait: 4s }
  - { name: back up, action: backup, target: cache }
)");
  const int pid = testing::spawn_command({FIREDRILL_BINARY, "run", scenario.string(), "--out", out_.string()},
                                         (out_ / "run.log").string());
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (read_file(out_ / "run.log").find("write time") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  const std::string run_id = wait_for_run(1s);
  ASSERT_FALSE(run_id.empty()) << read_file(out_ / "run.log");
  const auto set = run_command({"docker", "exec", "fd-" + run_id + "-cache", "sh", "-c", "redis-cli SET \"$(printf '\\377')\" 1"}, 20s);
  EXPECT_EQ(set.exit_code, 0) << set.output;
  EXPECT_EQ(testing::wait_command(pid), 0) << read_file(out_ / "run.log");
  const auto report = nlohmann::json::parse(read_file(out_ / run_id / "report.json"));
  EXPECT_EQ(report["steps"][1]["outcome"], "ok") << report["steps"].dump(2);
}

// M1: `cleanup --all` beside a live drill and a container some other tool labelled as a run.
TEST_F(SecurityTest, CleanupAllLeavesALiveDrillAndForeignLabelledContainersAlone) {
  const std::string bystander = fmt::format("fd-bystander-{}", ::getpid());
  run_command({"docker", "rm", "-f", bystander}, 20s);
  const auto started = run_command({"docker", "run", "-d", "--label", "io.firedrill.run=x", "--name", bystander,
                                    "firedrill/base:bookworm", "sleep", "600"},
                                   60s);
  ASSERT_EQ(started.exit_code, 0) << started.output;
  const auto scenario = write_scenario("live", R"(version: 1
name: live
services:
  cache: { kind: redis }
steps:
  - { name: stay up, wait: 12s }
)");
  const int pid = testing::spawn_command({FIREDRILL_BINARY, "run", scenario.string(), "--out", out_.string()},
                                         (out_ / "run.log").string());
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (read_file(out_ / "run.log").find("stay up") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  const std::string run_id = wait_for_run(1s);
  ASSERT_FALSE(run_id.empty()) << read_file(out_ / "run.log");

  const auto cleanup = firedrill({"cleanup", "--all"}, 60s);
  EXPECT_EQ(cleanup.exit_code, 0) << cleanup.output;
  EXPECT_NE(cleanup.output.find(fmt::format("run {}: its owner", run_id)), std::string::npos) << cleanup.output;
  EXPECT_NE(cleanup.output.find("removed 0 containers"), std::string::npos) << cleanup.output;
  const auto bystander_state = run_command({"docker", "inspect", "-f", "{{.State.Running}}", bystander}, 20s);
  EXPECT_EQ(bystander_state.output, "true\n") << "cleanup --all removed a container no run of firedrill journalled";
  const auto drill_state = run_command({"docker", "inspect", "-f", "{{.State.Running}}", "fd-" + run_id + "-cache"}, 20s);
  EXPECT_EQ(drill_state.output, "true\n") << "cleanup --all stopped a live drill";
  EXPECT_EQ(testing::wait_command(pid), 0) << read_file(out_ / "run.log");
  run_command({"docker", "rm", "-f", bystander}, 20s);

  // Only run ids are taken: a path there once removed files outside the state directory.
  const auto odd = firedrill({"cleanup", "../../canary"}, 20s);
  EXPECT_EQ(odd.exit_code, 2) << odd.output;
  EXPECT_NE(odd.output.find("'../../canary' is not a run id"), std::string::npos) << odd.output;
  const auto down = firedrill({"down", "../../canary"}, 20s);
  EXPECT_EQ(down.exit_code, 2) << down.output;
}

// H5: a scenario's host paths, firedrill's own env names and, on the process runtime as root,
// its shell text: each refused before anything starts (exit 2, nothing written).
TEST_F(SecurityTest, AScenarioReachesNothingOnTheHostOutsideItsRunDirectory) {
  const fs::path marker = fmt::format("/var/tmp/FD_PROC-{}", ::getpid());
  const fs::path runs = out_ / "runs";
  const std::string head = "version: 1\nname: reach\nservices:\n";
  const std::vector<std::tuple<std::string, std::string, std::vector<std::string>, std::string>> attempts = {
      {"internal-env", head + "  db: { kind: postgres, env: { FIREDRILL_WAL_REPOSITORY: / } }\nsteps:\n  - { name: w, wait: 1s }\n",
       {}, "reach-internal-env.yaml:4:32: env 'FIREDRILL_WAL_REPOSITORY': names starting with FIREDRILL_"},
      {"repository", head + "  db: { kind: postgres }\nsteps:\n  - { name: b, action: backup, target: db, repository: /etc/cron.d }\n",
       {}, "reach-repository.yaml:6:56: repository '/etc/cron.d' is outside the run directory"},
      {"process-command",
       head + "  db: { kind: postgres, command: [bash, -c, \"id >" + marker.string() + "\\nexec docker-entrypoint.sh \\\"$@\\\"\", bash, postgres] }\n"
              "steps:\n  - { name: w, wait: 1s }\n",
       {"--runtime", "process"}, "'command' would run on this machine as root"}};
  for (const auto& [name, text, extra, message] : attempts) {
    const auto scenario = write_scenario("reach-" + name, text);
    std::vector<std::string> arguments = {"run", scenario.string(), "--out", runs.string()};
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    const auto outcome = firedrill(arguments, 30s);
    EXPECT_EQ(outcome.exit_code, 2) << name << ": " << outcome.output;
    EXPECT_NE(outcome.output.find(message), std::string::npos) << name << ": " << outcome.output;
    EXPECT_FALSE(fs::exists(runs)) << name << ": a run directory was made";
  }
  EXPECT_FALSE(fs::exists(marker));
  fs::remove(marker);

  // Granted on the command line, the same repository is accepted.
  const auto granted = firedrill({"validate", (out_ / "reach-repository.yaml").string(), "--repository-root", "/etc"}, 30s);
  EXPECT_EQ(granted.exit_code, 0) << granted.output;
}

// M7: `ps` shows every user every process's arguments. Sampled every 10 ms through a standby
// failover drill (the standby's preparation once passed the replication password to psql).
TEST_F(SecurityTest, NoPasswordIsOnAnyCommandLineThroughAStandbyFailover) {
  const std::string password = "pw-Ps7Lq2Xw";
  const auto [outcome, found] =
      drill_sampling_command_lines("pg-primary-kill-promote.yaml", "  db: { kind: postgres, standbys: 1, sync: true }",
                                   "POSTGRES_PASSWORD", password, {"pg_basebackup", "primary_conninfo"});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_GT(found.samples, 100);
  EXPECT_FALSE(found.seen.empty()) << "the sampler never saw the standby being prepared";
  EXPECT_EQ(found.leaks, std::set<std::string>{});
}

// M13: Redis and its sentinels listen where every local user reaches them, so they ask for a
// password; it reaches the servers, replicas and sentinels through their standard input and
// configuration files, never an argument, sampled through a Sentinel failover.
TEST_F(SecurityTest, NoRedisPasswordIsOnAnyCommandLineThroughASentinelFailover) {
  const std::string password = "rpw-Ss9Kd4Vb";
  const auto [outcome, found] = drill_sampling_command_lines(
      "redis-master-loss-sentinel.yaml", "  cache: { kind: redis, sentinels: 3, replicas: 1 }", "REDIS_PASSWORD",
      password, {"redis-sentinel", "redis-server", "--replicaof"});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_GT(found.samples, 100);
  EXPECT_EQ(found.seen, (std::set<std::string>{"--replicaof", "redis-sentinel", "redis-server"}));
  EXPECT_EQ(found.leaks, std::set<std::string>{});
  EXPECT_EQ(files_holding(run_dir_, password), std::vector<std::string>{});
}

// PgBouncer's auth file holds the backend's password: it reaches the pool's container through its
// environment and is written by the start script's shell builtins and sed's standard input, never
// an argument, sampled through the PgBouncer restart drill; nor is it in any file of the run.
TEST_F(SecurityTest, NoPasswordIsOnAnyCommandLineThroughAPgBouncerRestart) {
  const std::string password = "bpw-Pg4Bn8Qz";
  const auto [outcome, found] = drill_sampling_command_lines("pgbouncer-primary-restart.yaml", "  db: { kind: postgres }",
                                                             "POSTGRES_PASSWORD", password, {"pgbouncer", "firedrill-app"});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_GT(found.samples, 100);
  EXPECT_EQ(found.seen, (std::set<std::string>{"firedrill-app", "pgbouncer"}));
  EXPECT_EQ(found.leaks, std::set<std::string>{});
  EXPECT_EQ(files_holding(run_dir_, password), std::vector<std::string>{});
}

/// The containers, networks and volumes labelled with `run_id` the engine still has.
std::string left_of_run(const std::string& run_id) {
  std::string left;
  for (const std::string kind : {"container", "network", "volume"}) {
    std::vector<std::string> argv = {"docker", kind, "ls", "-q", "--filter", "label=io.firedrill.run=" + run_id};
    if (kind == "container") argv.insert(argv.begin() + 3, "-a");
    left += run_command(argv, 30s).output;
  }
  return left;
}

// M12: a reader of firedrill's output that goes away (SIGPIPE at the next progress line) or a
// closed terminal (SIGHUP) killed it mid-fault: the paused container and the network stayed.
TEST_F(SecurityTest, AVanishedReaderOrTerminalLeavesNothingBehind) {
  const auto scenario = write_scenario("signals", R"(version: 1
name: signals
services:
  cache: { kind: redis }
steps:
  - { name: settle, wait: 1s }
  - { name: freeze, fault: pause, target: cache, duration: 4s }
  - { name: after, wait: 1s }
)");
  const fs::path piped = out_ / "piped";
  const auto outcome = run_command({"/bin/sh", "-c",
                                    fmt::format("'{}' run '{}' --out '{}' 2>&1 | head -1", FIREDRILL_BINARY,
                                                scenario.string(), piped.string())},
                                   200s);
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  std::string run_id;
  for (const auto& entry : fs::directory_iterator(piped))
    if (fs::exists(entry.path() / "journal.jsonl")) run_id = entry.path().filename().string();
  ASSERT_FALSE(run_id.empty());
  EXPECT_TRUE(fs::exists(piped / run_id / "report.json")) << "the drill did not run to its end";
  EXPECT_EQ(left_of_run(run_id), "");

  const fs::path hung = out_ / "hung";
  fs::create_directories(hung);
  const fs::path log = out_ / "hung.log";
  const int pid = testing::spawn_command({FIREDRILL_BINARY, "run", scenario.string(), "--out", hung.string()}, log.string());
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (read_file(log).find("freeze") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_NE(read_file(log).find("freeze"), std::string::npos) << read_file(log);
  ASSERT_EQ(::kill(pid, SIGHUP), 0);
  EXPECT_EQ(testing::wait_command(pid), 130) << read_file(log);
  std::string hung_id;
  for (const auto& entry : fs::directory_iterator(hung))
    if (fs::exists(entry.path() / "journal.jsonl")) hung_id = entry.path().filename().string();
  ASSERT_FALSE(hung_id.empty());
  EXPECT_EQ(left_of_run(hung_id), "");
}

}  // namespace
}  // namespace firedrill
