#pragma once
// What the golden tests share: comparing an output with its approved copy, which
// FIREDRILL_UPDATE_GOLDEN=1 rewrites instead.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include <gtest/gtest.h>

namespace firedrill::golden {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void expect_matches(const std::filesystem::path& golden_dir, const std::string& name, const std::string& actual) {
  auto golden = golden_dir / name;
  if (const char* update = std::getenv("FIREDRILL_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::filesystem::create_directories(golden_dir);
    std::ofstream(golden, std::ios::binary) << actual;
    std::cout << "updated " << golden.string() << "\n";
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(golden)) << golden << " is missing; run with FIREDRILL_UPDATE_GOLDEN=1 to create it";
  std::string expected = read_file(golden);
  if (expected == actual) return;
  auto actual_file = std::filesystem::temp_directory_path() / ("firedrill-golden-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(actual_file, std::ios::binary) << actual;
  std::string diff_file = actual_file.string() + ".diff";
  std::string command = "diff -u '" + golden.string() + "' '" + actual_file.string() + "' | head -120 >'" + diff_file + "'";
  [[maybe_unused]] int ignored = std::system(command.c_str());
  std::string diff = read_file(diff_file);
  std::filesystem::remove(actual_file);
  std::filesystem::remove(diff_file);
  ADD_FAILURE() << name << " differs from its golden copy (FIREDRILL_UPDATE_GOLDEN=1 approves the new output):\n" << diff;
}

}  // namespace firedrill::golden
