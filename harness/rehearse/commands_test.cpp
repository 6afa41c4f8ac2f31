#include "harness/rehearse/commands.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

std::vector<ServiceAccess> run_services() {
  return {{"db", "postgres", "fd-r1-db", "198.18.0.2", 32770,
           "host=127.0.0.1 port=32770 user=postgres password=s3cr:t dbname=app connect_timeout=2"},
          {"db-standby-1", "postgres", "fd-r1-db-standby-1", "198.18.0.3", 32771,
           "host=127.0.0.1 port=32771 user=postgres password=s3cr:t dbname=app connect_timeout=2"},
          {"cache", "redis", "fd-r1-cache", "198.18.0.4", 32772, "", "r3d'is"},
          {"app", "app", "fd-r1-app", "198.18.0.5", 32773, ""}};
}

StepSpec action(const std::string& what, const std::string& target) {
  StepSpec step;
  step.name = what;
  step.verb = StepVerb::action;
  step.what = what;
  step.target = target;
  step.manual = "Do " + what + " by hand";
  return step;
}

bool mentions(const std::vector<std::string>& commands, const std::string& text) {
  for (const auto& command : commands)
    if (command == text) return true;
  return false;
}

TEST(Commands, PromoteShowsPgPromoteAndBothWaysIntoTheStandby) {
  auto commands = suggested_commands(action("promote", "db-standby-1"), "docker", run_services(), "/runs/r1/rehearsal.pgpass");
  ASSERT_FALSE(commands.empty());
  EXPECT_EQ(commands[0], "docker exec fd-r1-db-standby-1 psql -U postgres -c 'SELECT pg_promote()'");
  EXPECT_TRUE(mentions(commands, "docker exec -it fd-r1-db-standby-1 psql -U postgres -d app"));
  EXPECT_TRUE(mentions(commands, "PGPASSFILE=/runs/r1/rehearsal.pgpass psql -h 127.0.0.1 -p 32771 -U postgres -d app"));
  for (const auto& command : commands) EXPECT_EQ(command.find("s3cr"), std::string::npos) << "no password: " << command;
}

TEST(Commands, RepointRewritesTheHostsOfEveryOtherContainer) {
  StepSpec step = action("repoint", "");
  step.params["service"].text = "db";
  step.params["to"].text = "db-standby-1";
  auto commands = suggested_commands(step, "docker", run_services(), "/p");
  const std::string script =
      "'grep -v \"[[:space:]]db$\" /etc/hosts >/tmp/hosts; echo \"198.18.0.3 db\" >>/tmp/hosts; cat /tmp/hosts >/etc/hosts'";
  EXPECT_TRUE(mentions(commands, "docker exec fd-r1-cache sh -c " + script)) << commands[0];
  EXPECT_TRUE(mentions(commands, "docker exec fd-r1-app sh -c " + script));
  for (const auto& command : commands) {
    EXPECT_EQ(command.find("fd-r1-db sh -c"), std::string::npos);
    EXPECT_EQ(command.find("fd-r1-db psql"), std::string::npos) << "the failed primary is not offered";
  }
  EXPECT_TRUE(mentions(commands, "docker exec -it fd-r1-db-standby-1 psql -U postgres -d app"));
}

TEST(Commands, LocalProcessesGetClientsOnTheirPortsAndRepointIsLeftToFiredrill) {
  auto promote = suggested_commands(action("promote", "db-standby-1"), "process", run_services(), "/p");
  ASSERT_FALSE(promote.empty());
  EXPECT_EQ(promote[0], "PGPASSFILE=/p psql -h 127.0.0.1 -p 32771 -U postgres -d app -c 'SELECT pg_promote()'");
  StepSpec step = action("repoint", "");
  step.params["service"].text = "db";
  step.params["to"].text = "db-standby-1";
  auto repoint = suggested_commands(step, "process", run_services(), "/p");
  ASSERT_FALSE(repoint.empty());
  EXPECT_NE(repoint[0].find("press r"), std::string::npos) << repoint[0];
  for (const auto& commands : {promote, repoint})
    for (const auto& command : commands) {
      EXPECT_EQ(command.find(" exec "), std::string::npos) << "no container to exec into: " << command;
      EXPECT_EQ(command.find("/etc/hosts"), std::string::npos) << "never this machine's hosts file: " << command;
    }
}

TEST(Commands, UntilNamesItsServiceAndIsDescribed) {
  StepSpec step;
  step.name = "check the app";
  step.verb = StepVerb::manual;
  step.what = "Open the app";
  step.until = UntilSpec{"app", "", "", {}};
  HumanTask task = describe_human_step(step, 4, 6, "docker", run_services(), "/p");
  EXPECT_EQ(task.instruction, "Open the app");
  EXPECT_EQ(task.until, "every probe of app succeeds");
  EXPECT_FALSE(task.automatable);
  EXPECT_TRUE(mentions(task.commands, "curl -s http://127.0.0.1:32773/health"));
}

TEST(Commands, PgpassIsPrivateAndEscaped) {
  const auto directory = std::filesystem::temp_directory_path() / ("rehearsal-pgpass-" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  const auto file = directory / "rehearsal.pgpass";
  write_pgpass(file, run_services());
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::stringstream content;
  content << std::ifstream(file).rdbuf();
  EXPECT_EQ(content.str(), "127.0.0.1:32770:*:postgres:s3cr\\:t\n127.0.0.1:32771:*:postgres:s3cr\\:t\n");
  EXPECT_THROW(write_pgpass(file, run_services()), std::runtime_error) << "never overwrites";
  std::filesystem::remove_all(directory);
}

// redis-cli on the host takes the cache's password from a private file through its environment:
// the command shown holds the file's name, never the password.
TEST(Commands, TheHostsRedisCliReadsThePasswordFromAPrivateFile) {
  const auto directory = std::filesystem::temp_directory_path() / ("rehearsal-redis-" + std::to_string(::getpid()));
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  const auto pgpass = directory / "rehearsal.pgpass";
  write_pgpass(pgpass, run_services());
  const auto password_file = redis_password_file(pgpass, "cache");
  EXPECT_EQ(password_file, directory / "rehearsal.cache.redis-password");
  struct stat info {};
  ASSERT_EQ(::stat(password_file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::stringstream content;
  content << std::ifstream(password_file).rdbuf();
  EXPECT_EQ(content.str(), "r3d'is");
  auto commands = suggested_commands(action("restart", "cache"), "docker", run_services(), pgpass);
  EXPECT_TRUE(mentions(commands, "REDISCLI_AUTH=\"$(cat '" + password_file.string() + "')\" redis-cli -h 127.0.0.1 -p 32772"))
      << ::testing::PrintToString(commands);
  for (const auto& command : commands) EXPECT_EQ(command.find("r3d'is"), std::string::npos) << command;
  remove_rehearsal_password_files(directory);
  EXPECT_FALSE(std::filesystem::exists(pgpass));
  EXPECT_FALSE(std::filesystem::exists(password_file));
  std::filesystem::remove_all(directory);
}

TEST(Commands, SqlTruth) {
  EXPECT_TRUE(sql_value_is_true("t"));
  EXPECT_TRUE(sql_value_is_true("1"));
  EXPECT_TRUE(sql_value_is_true("42"));
  EXPECT_FALSE(sql_value_is_true("f"));
  EXPECT_FALSE(sql_value_is_true("0"));
  EXPECT_FALSE(sql_value_is_true(""));
  EXPECT_FALSE(sql_value_is_true("12abc"));
}

}  // namespace
}  // namespace firedrill
