#include "harness/runtime/runtime_choice.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "harness/runtime/fake_runtime.hpp"

namespace firedrill {
namespace {

TEST(RuntimeRegistry, EachEntrySaysTheCapabilitiesItsRuntimeHas) {
  // The loader refuses steps by the registry's word before any runtime exists: that word must be
  // what the runtime's class really offers.
  const auto out = std::filesystem::temp_directory_path();
  for (const auto& [name, entry] : runtime_registry()) {
    auto runtime = entry.make(out);
    EXPECT_EQ(runtime->name(), name);
    EXPECT_EQ(capabilities_of(*runtime), entry.capabilities) << name;
  }
  EXPECT_EQ(runtime_entry("process").capabilities.count(Capability::network_namespaces), 0u)
      << "its services share this machine's network";
  EXPECT_EQ(runtime_entry("docker").capabilities.size(), 4u);
}

TEST(RuntimeRegistry, AnUnknownRuntimeIsRefusedNamingTheChoices) {
  try {
    runtime_entry("kubernetes");
    FAIL() << "no error";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "runtime 'kubernetes' is not available in this version (choose docker or process)");
  }
  EXPECT_THROW(choose_runtime("kubernetes"), std::invalid_argument);
  EXPECT_EQ(choose_runtime("process"), "process");
}

TEST(RuntimeCapabilities, AMissingOneIsAnEnvironmentErrorNamingTheRuntimeAndWhatItCannotDo) {
  class CoreOnly final : public Runtime {
   public:
    std::string name() const override { return "core-only"; }
    void begin_run(const std::string&, const std::string&, const Owner&, BeforeCreate) override {}
    ContainerInfo start(const ContainerSpec&) override { return {}; }
    ContainerInfo inspect(const std::string&) override { return {}; }
    ExecResult exec(const std::string&, const std::vector<std::string>&, std::chrono::milliseconds) override { return {}; }
    bool is_running(const std::string&) override { return false; }
    std::string read_logs(const std::string&, std::optional<int>) override { return "a\nb\nc\n"; }
    void teardown() override {}
  } runtime;
  EXPECT_TRUE(capabilities_of(runtime).empty());
  EXPECT_EQ(runtime.capability<ProcessControl>(), nullptr);
  try {
    require_capability<ProcessControl>(runtime, "step 'crash'");
    FAIL() << "no error";
  } catch (const EnvironmentError& error) {
    EXPECT_STREQ(error.what(), "step 'crash': the core-only runtime cannot signal, pause or restart its services");
  }
  EXPECT_THROW(storage(runtime), EnvironmentError);
  FakeRuntime fake;
  EXPECT_EQ(capabilities_of(fake).size(), 4u);
  EXPECT_NE(fake.capability<NetworkNamespaces>(), nullptr);
}

TEST(RuntimeRegistry, EachEntryUndoesTheRunsWhoseJournalNamesWhatItMade) {
  for (const auto& [name, entry] : runtime_registry()) {
    EXPECT_TRUE(entry.made) << name;
    EXPECT_TRUE(entry.release) << name;
    // Leftovers found by label come as a pair: what is orphaned, and its removal.
    EXPECT_EQ(static_cast<bool>(entry.orphaned_unjournalled_runs), static_cast<bool>(entry.release_unjournalled)) << name;
  }
  JournalState containers;
  containers.created = {{"network", "fd-run"}, {"container", "fd-run-db"}};
  JournalState processes;
  processes.created = {{"mount", "/tmp/somewhere"}, {"process", "db"}};
  JournalState cgroup_only;
  cgroup_only.created = {{"cgroup", "/sys/fs/cgroup/firedrill/run/db"}};
  JournalState files_only;
  files_only.created = {{"mount", "/tmp/somewhere"}, {staging_kind, "/tmp/fd-staging-abcdef"}};
  ASSERT_NE(runtime_of(containers), nullptr);
  EXPECT_EQ(runtime_of(containers)->name, "docker");
  ASSERT_NE(runtime_of(processes), nullptr);
  EXPECT_EQ(runtime_of(processes)->name, "process");
  ASSERT_NE(runtime_of(cgroup_only), nullptr);
  EXPECT_EQ(runtime_of(cgroup_only)->name, "process");
  EXPECT_EQ(runtime_of(files_only), nullptr) << "mounts and staging are released whatever the runtime";
}

}  // namespace
}  // namespace firedrill
