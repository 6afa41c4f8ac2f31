#include "harness/runtime/process/recipes/registry.hpp"

#include <string_view>

#include <fmt/format.h>

namespace firedrill {
namespace {

/// The repository of an image reference: "firedrill/postgres:15" → "firedrill/postgres", and
/// Docker Hub's official images by their short names.
std::string repository_of(const std::string& image) {
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  std::string repository =
      colon != std::string::npos && (slash == std::string::npos || colon > slash) ? image.substr(0, colon) : image;
  constexpr std::string_view official = "docker.io/library/";
  if (repository.starts_with(official)) repository.erase(0, official.size());
  return repository;
}

struct Recipe {
  std::string_view repository;
  std::unique_ptr<ProgramRecipe> (*make)(const ContainerSpec&);
};

constexpr Recipe recipes[] = {
    {"firedrill/postgres", postgres_recipe}, {"postgres", postgres_recipe},
    {"firedrill/redis", redis_recipe},       {"redis", redis_recipe},
    {"firedrill/app", app_recipe},
};

}  // namespace

std::unique_ptr<ProgramRecipe> recipe_for(const ContainerSpec& spec) {
  const std::string repository = repository_of(spec.image);
  for (const auto& recipe : recipes)
    if (recipe.repository == repository) return recipe.make(spec);
  throw EnvironmentError(fmt::format(
      "the process runtime cannot run image '{}' of '{}': it runs only firedrill/postgres, firedrill/redis and "
      "firedrill/app (or the official postgres and redis) as programs of this machine; use --runtime docker",
      spec.image, spec.service));
}

}  // namespace firedrill
