#include "harness/runtime/docker/tar_archive.hpp"

#include <gtest/gtest.h>

namespace firedrill::tar {
namespace {

std::string one_file_archive(const std::string& name, const std::string& contents) {
  return file_header(name, contents.size(), 0644) + contents + padding(contents.size()) + end_of_archive();
}

std::string read_first_file(const std::string& archive, std::size_t piece) {
  std::string out;
  FirstFileReader reader([&](std::string_view data) { out.append(data); });
  for (std::size_t at = 0; at < archive.size() && !reader.complete(); at += piece)
    reader.feed(std::string_view(archive).substr(at, piece));
  EXPECT_TRUE(reader.complete());
  return out;
}

TEST(TarArchive, HeaderIsAValidUstarBlock) {
  const std::string header = file_header("dump.rdb", 1234, 0644);
  ASSERT_EQ(header.size(), 512u);
  EXPECT_EQ(header.substr(0, 8), "dump.rdb");
  EXPECT_EQ(header.substr(124, 11), "00000002322");
  EXPECT_EQ(header.substr(257, 5), "ustar");
  unsigned sum = 0;
  for (std::size_t i = 0; i < header.size(); ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(header[i]);
  EXPECT_EQ(std::stoul(header.substr(148, 6), nullptr, 8), sum);
}

TEST(TarArchive, ReaderReturnsTheFileWhateverThePieceSize) {
  std::string contents(70000, 'x');
  contents[0] = 'a';
  contents.back() = 'z';
  const std::string archive = one_file_archive("data.bin", contents);
  for (std::size_t piece : {1u, 7u, 512u, 4096u, 1000000u}) EXPECT_EQ(read_first_file(archive, piece), contents) << piece;
}

TEST(TarArchive, ReaderSkipsAPaxHeaderAndHonoursItsSize) {
  const std::string record = "16 size=0000005\n";
  std::string pax = file_header("PaxHeader", record.size(), 0644);
  pax[156] = 'x';
  const std::string archive = pax + record + padding(record.size()) + one_file_archive("f", "hello");
  EXPECT_EQ(read_first_file(archive, 100), "hello");
}

TEST(TarArchive, APaxSizeThatIsNoNumberIsAMalformedHeader) {
  // Found by tests/fuzz/engine_fuzz: std::stoull threw std::invalid_argument (or out_of_range),
  // not the std::runtime_error feed() promises for a malformed archive.
  for (const std::string record : {"16 size=x000005\n", "31 size=99999999999999999999999\n"}) {
    std::string pax = file_header("PaxHeader", record.size(), 0644);
    pax[156] = 'x';
    const std::string archive = pax + record + padding(record.size()) + one_file_archive("f", "hello");
    FirstFileReader reader([](std::string_view) {});
    EXPECT_THROW(reader.feed(archive), std::runtime_error) << record;
  }
}

TEST(TarArchive, EmptyArchiveIsAnError) {
  FirstFileReader reader([](std::string_view) {});
  EXPECT_THROW(reader.feed(end_of_archive()), std::runtime_error);
}

TEST(TarArchive, NamesWithSlashesAreRefused) {
  EXPECT_THROW(file_header("a/b", 1, 0644), std::invalid_argument);
}

}  // namespace
}  // namespace firedrill::tar
