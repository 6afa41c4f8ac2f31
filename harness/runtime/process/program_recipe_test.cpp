#include "harness/runtime/process/program_recipe.hpp"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "harness/runtime/process/command_line.hpp"
#include "harness/runtime/process/recipes/registry.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool contains(const std::vector<std::string>& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

/// A service's place in a fresh temporary directory, port 15432, as the harness's user.
class RecipeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "firedrill-recipe-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    base_ = pattern;
    place_.service = "db";
    place_.directory = base_;
    place_.port = 15432;
    place_.create();
  }
  void TearDown() override { fs::remove_all(base_); }

  std::unique_ptr<ProgramRecipe> recipe(const std::string& image, std::vector<std::string> command,
                                        std::vector<std::string> env = {}) {
    ContainerSpec spec;
    spec.service = place_.service;
    spec.image = image;
    spec.command = std::move(command);
    spec.env = std::move(env);
    auto made = recipe_for(spec);
    place_.data_path = made->program().data_path;
    return made;
  }

  fs::path base_;
  ServicePlace place_;
};

TEST_F(RecipeTest, AnImageWithoutARecipeIsRefusedNamingTheDockerRuntime) {
  try {
    recipe("nginx:1.25", {});
    FAIL() << "nginx has no recipe";
  } catch (const EnvironmentError& error) {
    EXPECT_NE(std::string(error.what()).find("--runtime docker"), std::string::npos) << error.what();
  }
  EXPECT_EQ(recipe("docker.io/library/postgres:15", {})->program().user, "postgres");
  EXPECT_EQ(recipe("firedrill/redis:7", {})->program().user, "redis");
}

TEST_F(RecipeTest, PostgresRunsTheServerWithItsOptionsOnThePlacesPortAndSocket) {
  auto postgres = recipe("firedrill/postgres:15", {"postgres", "-c", "fsync=off"}, {"PGDATA=/pgdata"});
  EXPECT_EQ(postgres->program().data_path, "/pgdata");
  EXPECT_EQ(postgres->program().stop_signal, SIGINT);
  EXPECT_EQ(postgres->program().default_port, 5432);
  const Launch launch = postgres->place(place_);
  const std::vector<std::string> expected = {postgres->program().binary, "-D", place_.data().string(), "-c", "fsync=off",
                                             "-p", "15432", "-k", place_.directory.string(), "-c",
                                             "listen_addresses=127.0.0.1", "-c", "dynamic_shared_memory_type=mmap"};
  EXPECT_EQ(launch.argv, expected);
  EXPECT_TRUE(launch.as_service_user);
  EXPECT_EQ(launch.environment.at("PGDATA"), place_.data().string());
  EXPECT_EQ(launch.environment.at("PGBACKREST_PG1_PORT"), "15432");
  EXPECT_NE(read_file(place_.stand_ins() / "pg_ctl").find("-k '" + place_.directory.string() + "'"), std::string::npos);

  std::vector<std::string> command = {"psql", "-U", "app"}, environment;
  postgres->adapt_exec(place_, command, environment);
  EXPECT_EQ(command, (std::vector<std::string>{"psql", "-U", "app"}));
  EXPECT_EQ(environment, (std::vector<std::string>{"PGHOST=" + place_.directory.string(), "PGPORT=15432"}));
}

TEST_F(RecipeTest, PostgresInAPlaceTooDeepForASocketGetsAShortSocketDirectoryThatGoesWithIt) {
  place_.directory = base_ / std::string(90, 'd');
  place_.create();
  auto postgres = recipe("firedrill/postgres:15", {});
  const Launch launch = postgres->place(place_);
  const fs::path socket_directory = launch.environment.at("PGBACKREST_PG1_SOCKET_PATH");
  EXPECT_EQ(socket_directory.parent_path(), fs::temp_directory_path());
  EXPECT_TRUE(fs::is_directory(socket_directory));
  EXPECT_TRUE(contains(launch.argv, socket_directory.string()));
  std::vector<std::string> command = {"psql"}, environment;
  postgres->adapt_exec(place_, command, environment);
  EXPECT_EQ(environment.front(), "PGHOST=" + socket_directory.string());
  remove_socket_directory(place_.directory);
  EXPECT_FALSE(fs::exists(socket_directory));
}

TEST_F(RecipeTest, APostgresPreparationScriptRunsAsItselfAndHandsOverToTheStandInEntrypoint) {
  auto postgres = recipe("firedrill/postgres:15",
                         {"/bin/bash", "-c", "cp -r /tmp/base /var/lib/postgresql/data\nexec docker-entrypoint.sh \"$@\"\n",
                          "bash", "postgres", "-c", "hot_standby=on"});
  const Launch launch = postgres->place(place_);
  ASSERT_EQ(launch.argv.size(), 7u);
  EXPECT_EQ(launch.argv[2], "cp -r " + place_.scratch().string() + "/base " + place_.data().string() +
                                "\nexec docker-entrypoint.sh \"$@\"\n");
  EXPECT_FALSE(launch.as_service_user);
  const std::string entrypoint = read_file(place_.stand_ins() / "docker-entrypoint.sh");
  EXPECT_NE(entrypoint.find(postgres->program().binary + " -D \"$PGDATA\" \"$@\" '-p' '15432'"), std::string::npos)
      << entrypoint;
  EXPECT_EQ(entrypoint.find("setpriv"), std::string::npos) << "as the harness's user, no user to switch to";
}

TEST_F(RecipeTest, AnIdlePostgresSleepsAndIsNeverInitialised) {
  auto postgres = recipe("firedrill/postgres:15", {"sleep", "infinity"});
  const Launch launch = postgres->place(place_);
  EXPECT_EQ(launch.argv.back(), "infinity");
  EXPECT_FALSE(launch.as_service_user);
  EXPECT_EQ(launch.environment.at("PGDATA"), place_.data().string());
  bool ran = false;
  postgres->prepare(place_, [&](const auto&, const auto&, auto, const auto&) { ran = true; });
  EXPECT_FALSE(ran);
}

TEST_F(RecipeTest, ACommandOfItsOwnIsRefusedForAServerImage) {
  EXPECT_THROW(recipe("firedrill/postgres:15", {"patroni", "/etc/patroni.yml"}), EnvironmentError);
  EXPECT_THROW(recipe("firedrill/redis:7", {"redis-benchmark"}), EnvironmentError);
}

TEST_F(RecipeTest, TheRedisServerScriptRunsAsTheServerWithThePasswordInAPrivateFile) {
  auto redis = recipe("firedrill/redis:7",
                      {"sh", "-c", "set -eu\nexec docker-entrypoint.sh \"$@\" - <<CONF\nrequirepass x\nCONF\n", "sh",
                       "redis-server", "--appendonly", "yes"},
                      {"REDIS_PASSWORD=s3\"cr3t-pw"});
  EXPECT_TRUE(redis->program().private_files);
  const Launch launch = redis->place(place_);
  const fs::path configuration = place_.directory / "redis.conf";
  EXPECT_EQ(launch.argv.at(1), configuration.string());
  EXPECT_TRUE(contains(launch.argv, "--appendonly"));
  EXPECT_FALSE(std::any_of(launch.argv.begin(), launch.argv.end(),
                           [](const std::string& argument) { return argument.find("cr3t-pw") != std::string::npos; }));
  EXPECT_EQ(read_file(configuration), "requirepass \"s3\\\"cr3t-pw\"\nmasterauth \"s3\\\"cr3t-pw\"\n");
  EXPECT_EQ(fs::status(configuration).permissions(), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(launch.environment.at("FIREDRILL_ANNOUNCE_PORT"), "15432");

  std::vector<std::string> command = {"redis-cli", "PING"}, environment;
  redis->adapt_exec(place_, command, environment);
  EXPECT_EQ(command, (std::vector<std::string>{"redis-cli", "-h", "127.0.0.1", "-p", "15432", "PING"}));
  command = {"redis-cli", "-p", "26379", "PING"};
  redis->adapt_exec(place_, command, environment);
  EXPECT_EQ(command, (std::vector<std::string>{"redis-cli", "-p", "26379", "PING"}));
}

TEST_F(RecipeTest, ASentinelScriptRunsItselfAndExecsTheStandInThatListensOnThePlacesPort) {
  auto sentinel = recipe("firedrill/redis:7",
                         {"/bin/sh", "-c", "cat > /data/sentinel.conf <<CONF\nCONF\nexec redis-sentinel /data/sentinel.conf\n"});
  EXPECT_EQ(fs::path(sentinel->program().binary).filename(), "redis-sentinel");
  const Launch launch = sentinel->place(place_);
  EXPECT_FALSE(launch.as_service_user);
  EXPECT_NE(launch.argv.at(2).find("exec redis-sentinel " + place_.data().string() + "/sentinel.conf"), std::string::npos);
  EXPECT_NE(read_file(place_.stand_ins() / "redis-sentinel").find("\"$@\" '--port' '15432' '--bind' '127.0.0.1'"),
            std::string::npos);
}

TEST_F(RecipeTest, TheAppIsTheConfiguredBinaryListeningOnLoopback) {
  ::setenv("FIREDRILL_APP_BINARY", "/bin/true", 1);
  auto app = recipe("firedrill/app:1", {"--workers", "2"});
  ::unsetenv("FIREDRILL_APP_BINARY");
  const Launch launch = app->place(place_);
  EXPECT_EQ(launch.argv, (std::vector<std::string>{"/bin/true", "--workers", "2"}));
  EXPECT_EQ(launch.environment.at("PORT"), "15432");
  EXPECT_EQ(launch.environment.at("LISTEN_ADDRESS"), "127.0.0.1");
  EXPECT_TRUE(app->program().user.empty());
}

TEST(HostPaths, OnlyWholeContainerPathsAreRewrittenAndOnlyOnce) {
  const PathRoots roots = {{"/data", "/run/x/data"}, {"/tmp", "/run/x/tmp"}, {"/run/x/tmp", "/run/x/tmp"}};
  EXPECT_EQ(with_host_paths("ls /data /database --file=/tmp/a >/tmp/b /run/x/tmp/c", roots),
            "ls /run/x/data /database --file=/run/x/tmp/a >/run/x/tmp/b /run/x/tmp/c");
}

}  // namespace
}  // namespace firedrill
