#include "injectors/registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "harness/runtime/fake_runtime.hpp"
#include "injectors/disk_full.hpp"

namespace firedrill {
namespace {

TEST(FaultRegistry, EveryInverseAFaultDeclaresIsRevertedByTheRegistryItsRegistrationLineFilled) {
  // A fault's own inverse reaches `cleanup` through its registration line alone: disk-full's
  // `unfill` removes the filler file it names.
  std::string made = (std::filesystem::temp_directory_path() / "fd-registry-XXXXXX").string();
  ASSERT_NE(::mkdtemp(made.data()), nullptr);
  const std::filesystem::path directory = made;
  const auto filler = directory / disk_full::fill_file_name;
  std::ofstream(filler) << "x";
  FakeRuntime runtime;
  revert_from_journal(runtime, {{"type", DiskFullInjector::journalled_inverse}, {"file", filler.string()}});
  EXPECT_FALSE(std::filesystem::exists(filler));
  std::filesystem::remove_all(directory);
}

TEST(FaultRegistry, AMechanismsInverseIsRevertedThroughTheRuntimesCapability) {
  FakeRuntime runtime;
  revert_from_journal(runtime, {{"type", "unpause"}, {"service", "db"}});
  revert_from_journal(runtime, {{"type", "proxy"}});  // ended with the harness's process
  const auto calls = runtime.calls();
  EXPECT_NE(std::find(calls.begin(), calls.end(), "unpause db"), calls.end());
}

TEST(FaultRegistry, AnInverseNoFaultDeclaresIsRefusedByItsName) {
  FakeRuntime runtime;
  try {
    revert_from_journal(runtime, {{"type", "teleport"}});
    FAIL() << "an unknown inverse was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("'teleport'"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace firedrill
