#include "core/confined_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

namespace fs = std::filesystem;

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// A data root beside a file outside it that something inside the root wants to reach.
class ConfinedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/fd-confined-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    scratch_ = pattern;
    root_ = scratch_ / "root";
    victim_ = scratch_ / "victim";
    fs::create_directories(root_ / "base");
    std::ofstream(victim_) << "host file";
    std::ofstream(root_ / "base" / "data") << "container file";
  }
  void TearDown() override { fs::remove_all(scratch_); }

  fs::path scratch_, root_, victim_;
};

TEST(SinglePathComponent, AcceptsFileNamesAndRefusesEverythingThatWalks) {
  EXPECT_TRUE(is_single_path_component("base.tar"));
  EXPECT_TRUE(is_single_path_component("..hidden"));
  EXPECT_FALSE(is_single_path_component(""));
  EXPECT_FALSE(is_single_path_component("."));
  EXPECT_FALSE(is_single_path_component(".."));
  EXPECT_FALSE(is_single_path_component("../../tmp/FD_ESCAPE"));
  EXPECT_FALSE(is_single_path_component("/etc/passwd"));
  EXPECT_FALSE(is_single_path_component(std::string_view("a\0b", 3)));
}

TEST_F(ConfinedFileTest, OpensAFileBelowTheRoot) {
  const ConfinedFile file({root_, "base/data"}, O_RDONLY);
  EXPECT_EQ(file.read_prefix(100), "container file");
  EXPECT_EQ(file.size(), 14u);
}

TEST_F(ConfinedFileTest, DotDotStopsAtTheRoot) {
  // Resolved as in a chroot: root/../victim is root/victim, which does not exist.
  EXPECT_THROW(ConfinedFile({root_, "../victim"}, O_WRONLY), std::runtime_error);
  EXPECT_THROW(ConfinedFile({root_, "base/../../victim"}, O_WRONLY), std::runtime_error);
  EXPECT_EQ(contents(victim_), "host file");
}

TEST_F(ConfinedFileTest, AnAbsoluteSymlinkResolvesInsideTheRoot) {
  fs::create_symlink(victim_, root_ / "base" / "16384");
  EXPECT_THROW(ConfinedFile({root_, "base/16384"}, O_RDWR), std::runtime_error);
  // The same name planted inside the root is what the link reaches.
  fs::create_directories(root_ / victim_.parent_path().relative_path());
  std::ofstream(root_ / victim_.relative_path()) << "inside";
  const ConfinedFile file({root_, "base/16384"}, O_RDWR);
  file.write_at(0, 'I');
  EXPECT_EQ(contents(root_ / victim_.relative_path()), "Inside");
  EXPECT_EQ(contents(victim_), "host file");
}

TEST_F(ConfinedFileTest, ARelativeSymlinkOutOfTheRootIsClamped) {
  fs::create_symlink("../../victim", root_ / "base" / "up");
  EXPECT_THROW(ConfinedFile({root_, "base/up"}, O_RDWR), std::runtime_error);
  fs::create_directory_symlink("../..", root_ / "base" / "parent");
  EXPECT_THROW(ConfinedFile({root_, "base/parent/victim"}, O_RDWR), std::runtime_error);
  EXPECT_EQ(contents(victim_), "host file");
}

TEST_F(ConfinedFileTest, ExclusiveNoFollowCreationRefusesAPlantedSymlink) {
  fs::create_symlink(victim_, root_ / "fill");
  try {
    const int fd = open_confined({root_, "fill"}, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    ::close(fd);
    FAIL() << "a planted symlink was opened";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find((root_ / "fill").string()), std::string::npos) << error.what();
  }
  EXPECT_EQ(contents(victim_), "host file");
}

TEST_F(ConfinedFileTest, RefusesWhatIsNotARegularFile) {
  ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0600), 0);
  EXPECT_THROW(ConfinedFile({root_, "fifo"}, O_RDONLY | O_NONBLOCK), std::runtime_error);
  EXPECT_THROW(ConfinedFile({root_, "base"}, O_RDONLY), std::runtime_error);
}

}  // namespace
}  // namespace firedrill
