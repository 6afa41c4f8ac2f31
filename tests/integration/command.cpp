#include "tests/integration/command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "checks/history.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/process/child_reaper.hpp"

namespace firedrill::testing {
namespace {

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

int spawn_command(const std::vector<std::string>& argv, const std::string& output_file) {
  // Awaited: a test that adopts orphans (see child_reaper.hpp) must not reap this one for us.
  pid_t pid = fork_awaited_child();
  if (pid == 0) {
    int fd = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, STDIN_FILENO);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());  // a bare name (docker) is looked up on PATH
    ::_exit(127);
  }
  return pid;
}

int wait_command(int pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  forget_awaited_child(pid);
  return exit_code_of(status);
}

CommandOutcome run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  char path[] = "/tmp/firedrill-command-XXXXXX";
  int fd = ::mkstemp(path);
  ::close(fd);
  int pid = spawn_command(argv, path);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  CommandOutcome outcome;
  while (true) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      outcome.exit_code = exit_code_of(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      outcome.exit_code = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  forget_awaited_child(pid);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  outcome.output = text.str();
  std::remove(path);
  return outcome;
}

bool engine_available() {
  try {
    count_labelled("");
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void EngineTest::SetUp() {
  if (!engine_available()) {
    if (std::getenv("CI")) FAIL() << "no Docker engine answers; ci/setup starts one";
    GTEST_SKIP() << "no Docker engine answers; run ci/setup";
  }
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  out_ = std::filesystem::temp_directory_path() /
         ("firedrill-" + std::string(test->test_suite_name()) + "-" + std::to_string(::getpid()) + "-" + test->name());
  std::filesystem::remove_all(out_);
  std::filesystem::create_directories(out_);
}

int published_port(const nlohmann::json& report, const std::string& service) {
  for (const auto& entry : report["environment"]["services"])
    if (entry.value("name", "") == service) {
      const std::string endpoint = entry.value("endpoint", "");
      return std::stoi(endpoint.substr(endpoint.find(':') + 1));
    }
  return 0;
}

std::set<std::string> order_ids_on_primary(int port, const std::string& password, const std::string& what,
                                           const std::string& query) {
  pqxx::connection connection("host=127.0.0.1 port=" + std::to_string(port) +
                              " user=postgres dbname=postgres connect_timeout=5 password=" + password);
  pqxx::nontransaction transaction(connection);
  EXPECT_FALSE(transaction.exec1("SELECT pg_is_in_recovery()")[0].as<bool>()) << what << " is not a primary";
  std::set<std::string> ids;
  for (const auto& row : transaction.exec(query)) ids.insert(row[0].as<std::string>());
  return ids;
}

std::vector<std::string> files_holding(const std::filesystem::path& directory, const std::string& text) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory))
    if (entry.is_regular_file() && read_file(entry.path()).find(text) != std::string::npos)
      found.push_back(entry.path().string());
  return found;
}

CommandOutcome EngineTest::firedrill(std::vector<std::string> arguments, std::chrono::seconds timeout) const {
  arguments.insert(arguments.begin(), FIREDRILL_BINARY);
  return run_command(arguments, timeout);
}

void expect_full_environment_loss_accounted(const std::filesystem::path& run_dir, const nlohmann::json& report,
                                            const std::string& backup_step) {
  // Every service was destroyed, then brought back and restored from the repository.
  std::set<std::string> destroyed, rebuilt;
  Micros backup_started = 0, incident = 0;
  std::istringstream events(read_file(run_dir / "events.jsonl"));
  for (std::string line; std::getline(events, line);) {
    const auto event = nlohmann::json::parse(line);
    const std::string kind = event["kind"];
    if (kind == "service.destroyed") destroyed.insert(event["service"].get<std::string>());
    if (kind == "service.ready" && event.value("rebuild", false)) rebuilt.insert(event["service"].get<std::string>());
    if (kind == "step.started" && event["step"] == backup_step) backup_started = parse_rfc3339(event["t"]);
    if (kind == "incident") incident = parse_rfc3339(event["t"]);
  }
  EXPECT_EQ(destroyed, (std::set<std::string>{"db", "cache", "app"}));
  EXPECT_EQ(rebuilt, (std::set<std::string>{"db", "cache", "app"}));
  ASSERT_GT(backup_started, 0);
  ASSERT_GT(incident, backup_started);

  // The writes lost are exactly what the backup could not hold: none acknowledged before the
  // backup began, and the RPO no longer than the time from that backup to the incident.
  std::set<std::string> present;
  std::istringstream readback(read_file(run_dir / "readback.jsonl"));
  for (std::string line; std::getline(readback, line);) {
    const auto entry = nlohmann::json::parse(line);
    for (const auto& id : entry["present"]) present.insert(id.get<std::string>());
  }
  int acked_before_backup = 0, lost_before_backup = 0;
  std::istringstream acks(read_file(run_dir / "acks.jsonl"));
  for (std::string line; std::getline(acks, line);) {
    const auto ack = nlohmann::json::parse(line);
    if (!ack["acked"].is_string() || parse_rfc3339(ack["acked"]) >= backup_started) continue;
    ++acked_before_backup;
    if (!present.count(ack["id"].get<std::string>())) ++lost_before_backup;
  }
  EXPECT_GT(acked_before_backup, 0);
  EXPECT_EQ(lost_before_backup, 0);
  const auto& measured = report["measured"];
  EXPECT_GT(measured["lost_acked_writes"].get<int>(), 0) << "writes acknowledged after the backup cannot survive";
  const double rpo = measured["rpo_seconds"].get<double>();
  EXPECT_GT(rpo, 0.0);
  EXPECT_LE(rpo, static_cast<double>(incident - backup_started) / 1e6 + 0.001);
  EXPECT_TRUE(report["components"]["overall"]["rto"]["met"].get<bool>());
  EXPECT_TRUE(report["components"]["overall"]["rpo"]["met"].get<bool>());
}

std::pair<CommandOutcome, nlohmann::json> EngineTest::drill(const std::filesystem::path& scenario,
                                                            const std::vector<std::string>& extra) {
  std::vector<std::string> arguments = {"run", scenario.string(), "--out", out_.string()};
  arguments.insert(arguments.end(), extra.begin(), extra.end());
  auto outcome = firedrill(arguments);
  nlohmann::json report;
  for (const auto& entry : std::filesystem::directory_iterator(out_))
    if (std::filesystem::exists(entry.path() / "report.json")) {
      run_dir_ = entry.path();
      report = nlohmann::json::parse(read_file(entry.path() / "report.json"));
      run_id_ = report.value("run_id", "");
    }
  return {outcome, report};
}

void EngineTest::TearDown() {
  if (out_.empty()) return;
  // A failed test's run directories are what explains the failure.
  if (HasFailure()) std::printf("the run directories are kept in %s\n", out_.c_str());
  else std::filesystem::remove_all(out_);
}

}  // namespace firedrill::testing
