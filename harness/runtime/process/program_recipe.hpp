#pragma once
// A program recipe: how the process runtime runs one image's program as a process of this
// machine. The runtime does what is the same for every program (the service's place, ports,
// user, process group, cgroup, pid file, logs, signals; service_place.hpp, spawn.hpp) and asks
// the service's recipe for the rest: which program the spec's command runs, with which arguments
// and environment it listens on the port the runtime chose, what it needs before its first start,
// how the tools an exec names reach it, and the stand-ins for what the image has and this machine
// lacks. One file per program in recipes/; recipes/registry.cpp chooses one by image.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "harness/runtime/process/service_place.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

/// What a recipe knows of its program once it has read the spec, before anything exists.
struct Program {
  std::string binary;     // the executable (inspect's image_id); refused when it is not installed
  std::string data_path;  // the image's data directory, a container path; empty: none
  int stop_signal = SIGTERM;  // the image's stop signal, which restart sends first
  int default_port = 0;   // where it listens when the spec publishes no port; 0: nowhere
  /// As root, the user it runs as (servers never run as root); empty: the harness's user.
  std::string user;
  /// What it creates is private (umask 077), as a configuration it rewrites may hold a password.
  bool private_files = false;
};

/// How the service's main process starts.
struct Launch {
  std::vector<std::string> argv;
  /// Over the runtime's PATH, HOME and LANG and the spec's environment.
  std::map<std::string, std::string> environment;
  /// False for a script that runs as root does in the image (here: as the harness's user) and
  /// hands over to a stand-in that becomes the program as its user.
  bool as_service_user = true;
};

/// Runs a program of the service to completion (initdb), recorded like a service process, with
/// `input` on its standard input; throws EnvironmentError with its log tail when it fails or
/// outlasts `timeout`. `what` names it in that error.
using RunToCompletion = std::function<void(const std::vector<std::string>& argv, const std::filesystem::path& input,
                                           std::chrono::seconds timeout, const std::string& what)>;

/// One service's program. A recipe reads and checks the spec when it is made (recipe_for,
/// recipes/registry.hpp), so an image or command the runtime cannot run is refused before
/// anything is created.
class ProgramRecipe {
 public:
  virtual ~ProgramRecipe() = default;

  const Program& program() const { return program_; }

  /// Writes the stand-ins and files the program needs into its place (created, ports chosen) and
  /// says how it starts. Called once per service. Throws EnvironmentError.
  virtual Launch place(const ServicePlace& place) = 0;

  /// What must be done once placed, before the first start (postgres: initdb, as the image's
  /// entrypoint does on an empty data directory). Throws EnvironmentError.
  virtual void prepare(const ServicePlace& /*place*/, const RunToCompletion& /*run*/) {}

  /// Adapts an exec's command (container paths already rewritten) and environment, so the
  /// program's client tools reach the service where the runtime placed it.
  virtual void adapt_exec(const ServicePlace& /*place*/, std::vector<std::string>& /*command*/,
                          std::vector<std::string>& /*environment*/) const {}

 protected:
  Program program_;
};

// What the recipes of servers share.

/// True for `sleep infinity`: an idle service (a scratch container the actions exec into), which
/// runs nothing of its own.
bool is_idle_command(const std::vector<std::string>& command);
/// The launch of an idle service: `sleep infinity` with `environment`, as the harness's user.
Launch idle_launch(std::map<std::string, std::string> environment);

/// Refuses (EnvironmentError) a command of a server's image other than the server's own options,
/// firedrill's preparation scripts and `sleep infinity`.
[[noreturn]] void refuse_command(const ContainerSpec& spec, const std::string& binary);

/// "setpriv ... " switching to the program's user, for a stand-in that a script running as root
/// execs; "" when the service runs as the harness's user.
std::string as_program_user(const ServicePlace& place, const Program& program);

/// ` 'argument'...`: arguments a stand-in passes on (this runtime's own: no quote inside).
std::string quoted_arguments(const std::vector<std::string>& arguments);

}  // namespace firedrill
