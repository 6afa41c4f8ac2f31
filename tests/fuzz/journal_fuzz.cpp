// Files firedrill reads back after a crash, written by a run that may have died mid-line: the
// first byte picks the reader, the rest is the file.
//  - even: journal.jsonl, read by `firedrill cleanup` (read_journal).
//  - odd: the evidence chain chain.jsonl (verify_chain, then repair_chain and verify_chain
//    again); after a NUL byte, the rest is run/attestation.dsse.json beside it.
// Readers answer or refuse with their documented errors; nothing else may escape.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "harness/runtime/journal.hpp"
#include "reports/attestation/chain.hpp"

namespace {

namespace fs = std::filesystem;

const fs::path& scratch() {
  static const fs::path directory = [] {
    std::string pattern = (fs::temp_directory_path() / "firedrill-journal-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return fs::path(pattern);
  }();
  return directory;
}

void write(const fs::path& file, std::string_view bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void journal(std::string_view text) {
  const fs::path file = scratch() / "journal.jsonl";
  write(file, text);
  (void)firedrill::read_journal(file);
}

void chain(std::string_view text) {
  namespace attestation = firedrill::attestation;
  const fs::path runs = scratch() / "runs";
  fs::remove_all(runs);
  fs::create_directories(runs / "run");
  const auto nul = text.find('\0');
  write(runs / "chain.jsonl", text.substr(0, nul));
  if (nul != std::string_view::npos) write(runs / "run" / "attestation.dsse.json", text.substr(nul + 1));
  try {
    (void)attestation::verify_chain(runs);
    (void)attestation::repair_chain(runs);
    (void)attestation::verify_chain(runs);
  } catch (const attestation::ChainError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    journal(rest);
  } else {
    chain(rest);
  }
  return 0;
}
