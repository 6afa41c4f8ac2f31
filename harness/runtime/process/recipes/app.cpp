// firedrill's fixture app (fixtures/app) for firedrill/app images: the build's or installation's
// binary, run as the harness's user with the spec's command as its arguments, listening on
// 127.0.0.1, where the harness reaches it.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "harness/runtime/process/recipes/registry.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

/// $FIREDRILL_APP_BINARY when set, else firedrill-app beside the running firedrill (an
/// installation), else fixtures/app/firedrill-app under the running firedrill's directory (its
/// build tree). Throws EnvironmentError naming the places it looked.
fs::path fixture_app_binary() {
  if (const char* configured = std::getenv("FIREDRILL_APP_BINARY"); configured && *configured) {
    if (::access(configured, X_OK) != 0)
      throw EnvironmentError(fmt::format("FIREDRILL_APP_BINARY names {}, which is not an executable file", configured));
    return configured;
  }
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  std::vector<fs::path> candidates;
  if (!error) {
    candidates.push_back(self.parent_path() / "firedrill-app");
    candidates.push_back(self.parent_path() / "fixtures" / "app" / "firedrill-app");
  }
  for (const auto& candidate : candidates)
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  std::string looked;
  for (const auto& candidate : candidates) looked += " " + candidate.string();
  throw EnvironmentError(fmt::format(
      "the process runtime needs the fixture app binary (firedrill-app) and found none (looked at{}); build the "
      "firedrill-app target or set FIREDRILL_APP_BINARY",
      looked));
}

class AppRecipe final : public ProgramRecipe {
 public:
  explicit AppRecipe(const ContainerSpec& spec) : arguments_(spec.command) { program_.binary = fixture_app_binary().string(); }

  Launch place(const ServicePlace& place) override {
    Launch launch;
    launch.environment["PORT"] = std::to_string(place.port);
    // On this machine the app's network is everyone's: it listens where the harness reaches it.
    launch.environment["LISTEN_ADDRESS"] = "127.0.0.1";
    launch.argv = {program_.binary};
    launch.argv.insert(launch.argv.end(), arguments_.begin(), arguments_.end());
    return launch;
  }

 private:
  std::vector<std::string> arguments_;
};

}  // namespace

std::unique_ptr<ProgramRecipe> app_recipe(const ContainerSpec& spec) { return std::make_unique<AppRecipe>(spec); }

}  // namespace firedrill
