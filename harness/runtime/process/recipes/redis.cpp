// Redis as the redis image runs it: redis-server of this machine on the service's data directory
// (/data), as the user `redis` when the harness is root (a client with the password could
// otherwise have it write files anywhere), what it writes private (a configuration CONFIG
// REWRITE leaves holds the password). Names of services do not resolve here, so servers and
// sentinels announce 127.0.0.1 and their port (FIREDRILL_ANNOUNCE_IP and _PORT), which
// replication and Sentinel hand on to clients.
//
// firedrill's server script (`sh -c` handing redis-server options to the entrypoint with the
// password on standard input; harness/services/redis.cpp) runs as redis-server with those options
// and REDIS_PASSWORD in a private redis.conf, never as an argument. A sentinel's script, which
// writes its configuration and ends in `exec redis-sentinel CONF` (harness/services/sentinel.cpp),
// runs as the image's shell would, and its redis-sentinel is a stand-in adding this runtime's
// --port and --bind.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness/runtime/process/command_line.hpp"
#include "harness/runtime/process/recipes/registry.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

/// True for a command that is a shell script ending in `exec redis-sentinel ...`: a sentinel
/// writing its configuration before it becomes the sentinel.
bool starts_redis_sentinel(const std::vector<std::string>& command) {
  const auto last_line = last_script_line(command, {"/bin/sh", "sh"});
  return last_line && last_line->starts_with("exec redis-sentinel ");
}

/// The redis-server options of firedrill's server script, `sh -c SCRIPT sh redis-server
/// OPTIONS...`, whose script hands OPTIONS to the image's entrypoint with the password on
/// standard input; nothing for any other command.
std::optional<std::vector<std::string>> redis_server_script_options(const std::vector<std::string>& command) {
  if (command.size() < 5 || (command[0] != "/bin/sh" && command[0] != "sh") || command[1] != "-c") return std::nullopt;
  if (command[2].find("\nexec docker-entrypoint.sh \"$@\" - <<") == std::string::npos) return std::nullopt;
  std::vector<std::string> options(command.begin() + 4, command.end());
  if (!options.empty() && options.front() == "redis-server") options.erase(options.begin());
  return options;
}

/// `value` as a double-quoted token of a Redis configuration line.
std::string redis_config_quoted(const std::string& value) {
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '\\' || c == '"') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

class RedisRecipe final : public ProgramRecipe {
 public:
  explicit RedisRecipe(const ContainerSpec& spec) : service_(spec.service) {
    program_.binary = resolve_program("redis-server");
    program_.data_path = "/data";
    program_.default_port = 6379;
    program_.user = "redis";
    program_.private_files = true;
    const auto environment = environment_map(spec.env);
    if (const auto found = environment.find("REDIS_PASSWORD"); found != environment.end()) password_ = found->second;
    arguments_ = spec.command;
    if (!arguments_.empty() && arguments_.front() == "redis-server") arguments_.erase(arguments_.begin());
    // firedrill's server script: this runtime runs the server itself, with the password in a
    // private configuration file instead of the script's standard input.
    if (auto options = redis_server_script_options(arguments_)) arguments_ = std::move(*options);
    idle_ = is_idle_command(arguments_);
    if (starts_redis_sentinel(arguments_)) {
      program_.binary = resolve_program("redis-sentinel");
      script_ = std::move(arguments_);
      arguments_.clear();
    } else if (!idle_ && !arguments_.empty() && !arguments_.front().starts_with("-")) {
      refuse_command(spec, program_.binary);
    }
  }

  Launch place(const ServicePlace& place) override {
    Launch launch;
    launch.environment["FIREDRILL_ANNOUNCE_IP"] = "127.0.0.1";
    launch.environment["FIREDRILL_ANNOUNCE_PORT"] = std::to_string(place.port);
    if (idle_) return idle_launch(std::move(launch.environment));
    const std::vector<std::string> listening = {"--port", std::to_string(place.port), "--bind", "127.0.0.1"};
    if (!script_.empty()) {
      // The script runs as the image's shell would and execs the stand-in for redis-sentinel on
      // its PATH, which adds this runtime's port and address. It wrote the sentinel's
      // configuration as root; the sentinel rewrites it as redis.
      for (const auto& argument : script_) launch.argv.push_back(place.on_host(argument));
      launch.as_service_user = false;
      const std::string take_configuration = place.run_as ? "chown redis:redis \"$1\"\n" : "";
      place.write_stand_in("redis-sentinel", "#!/bin/sh\n" + take_configuration + "exec " +
                                                 as_program_user(place, program_) + program_.binary + " \"$@\"" +
                                                 quoted_arguments(listening) + "\n");
      return launch;
    }
    launch.argv = {program_.binary};
    // The password reaches the server in its configuration file, never as an argument.
    if (password_) {
      const fs::path configuration = place.directory / "redis.conf";
      place.write_private_file(configuration, fmt::format("requirepass {0}\nmasterauth {0}\n", redis_config_quoted(*password_)),
                               fmt::format("the configuration of '{}'", service_));
      launch.argv.push_back(configuration.string());
    }
    launch.argv.insert(launch.argv.end(), arguments_.begin(), arguments_.end());
    for (const std::string& argument : {std::string("--replica-announce-ip"), std::string("127.0.0.1"),
                                        std::string("--replica-announce-port"), std::to_string(place.port),
                                        std::string("--dir"), place.data().string(), std::string("--daemonize"),
                                        std::string("no")})
      launch.argv.push_back(argument);
    launch.argv.insert(launch.argv.end(), listening.begin(), listening.end());
    return launch;
  }

  void adapt_exec(const ServicePlace& place, std::vector<std::string>& command, std::vector<std::string>&) const override {
    // redis-cli reaches the server where this runtime placed it, unless the command says where.
    const bool names_port = std::find(command.begin(), command.end(), "-p") != command.end() ||
                            std::find(command.begin(), command.end(), "-h") != command.end();
    if (fs::path(command.front()).filename() == "redis-cli" && !names_port)
      command.insert(command.begin() + 1, {"-h", "127.0.0.1", "-p", std::to_string(place.port)});
  }

 private:
  std::string service_;
  std::optional<std::string> password_;  // REDIS_PASSWORD of the spec
  std::vector<std::string> arguments_;   // the server's options
  std::vector<std::string> script_;      // a sentinel's script; empty: a server
  bool idle_ = false;
};

}  // namespace

std::unique_ptr<ProgramRecipe> redis_recipe(const ContainerSpec& spec) { return std::make_unique<RedisRecipe>(spec); }

}  // namespace firedrill
