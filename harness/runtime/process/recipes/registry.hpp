#pragma once
// The program recipes of the process runtime, one file each, chosen by the repository of the
// image a service names. A new program is a recipe in its own file here and a line in
// registry.cpp.
#include <filesystem>
#include <memory>

#include "harness/runtime/process/program_recipe.hpp"

namespace firedrill {

/// The recipe for the spec's image, having read its command; throws EnvironmentError for an image
/// the process runtime does not run, a command it cannot run, and a program it cannot find.
std::unique_ptr<ProgramRecipe> recipe_for(const ContainerSpec& spec);

// The recipes (recipes/<program>.cpp), each made for one spec.
std::unique_ptr<ProgramRecipe> postgres_recipe(const ContainerSpec& spec);
std::unique_ptr<ProgramRecipe> redis_recipe(const ContainerSpec& spec);
std::unique_ptr<ProgramRecipe> app_recipe(const ContainerSpec& spec);

/// Removes the System V segment a PostgreSQL server killed outright left (the one its data
/// directory's postmaster.pid names), once no process holds it; true when there was one. Called
/// for every service's data directory before it is removed: without a postmaster.pid it does
/// nothing.
bool release_postgres_shared_memory(const std::filesystem::path& data_directory);

}  // namespace firedrill
