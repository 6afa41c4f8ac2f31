#include "reports/attestation/chain.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "reports/artifacts.hpp"

namespace firedrill::attestation {
namespace {

constexpr const char* genesis = "0000000000000000000000000000000000000000000000000000000000000000";

/// The entry's own hash: SHA-256 of its canonical JSON (sorted keys, no spaces) without "hash".
std::string entry_hash(nlohmann::json entry) {
  entry.erase("hash");
  return sha256_hex(entry.dump());
}

/// An exclusive advisory lock on a file, released on destruction.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) throw std::runtime_error(fmt::format("cannot lock {}", path.string()));
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

std::vector<nlohmann::json> read_entries(const std::filesystem::path& chain) {
  std::ifstream in(chain);
  if (!in) throw std::runtime_error(fmt::format("{}: no evidence chain here", chain.string()));
  std::vector<nlohmann::json> entries;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto entry = nlohmann::json::parse(line, nullptr, false);
    if (entry.is_discarded() || !entry.is_object() || !entry.contains("hash") || !entry.contains("prev"))
      throw std::runtime_error(fmt::format("{}:{}: not a chain entry", chain.string(), number));
    entries.push_back(std::move(entry));
  }
  return entries;
}

}  // namespace

nlohmann::json append_to_chain(const std::filesystem::path& runs_dir, const std::string& run_id,
                               const std::filesystem::path& attestation) {
  auto chain = runs_dir / "chain.jsonl";
  FileLock lock(runs_dir / ".chain.lock");
  std::vector<nlohmann::json> entries;
  if (std::filesystem::exists(chain)) entries = read_entries(chain);
  nlohmann::json entry = {
      {"seq", entries.size() + 1},
      {"run_id", run_id},
      {"attestation", std::filesystem::relative(attestation, runs_dir).string()},
      {"attestation_sha256", sha256_file(attestation)},
      {"prev", entries.empty() ? std::string(genesis) : entries.back()["hash"].get<std::string>()},
  };
  entry["hash"] = entry_hash(entry);
  std::ofstream out(chain, std::ios::app);
  out << entry.dump() << "\n";
  out.flush();
  if (!out) throw std::runtime_error(fmt::format("cannot append to {}", chain.string()));
  return entry;
}

ChainCheck verify_chain(const std::filesystem::path& runs_dir) {
  auto entries = read_entries(runs_dir / "chain.jsonl");
  ChainCheck check;
  check.entries = entries.size();
  std::string previous = genesis;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& entry = entries[i];
    auto where = fmt::format("entry {} (line {}, run {})", entry.value("seq", 0), i + 1, entry.value("run_id", "?"));
    if (entry.value("seq", 0u) != i + 1) {
      check.reason = fmt::format("{}: sequence number {} where {} was expected (an entry was removed, inserted or moved)",
                                 where, entry.value("seq", 0), i + 1);
      return check;
    }
    if (entry["prev"] != previous) {
      check.reason = fmt::format("{}: does not follow the entry before it (removed, inserted or reordered)", where);
      return check;
    }
    if (entry_hash(entry) != entry["hash"]) {
      check.reason = fmt::format("{}: altered (its hash does not match its content)", where);
      return check;
    }
    auto attestation = runs_dir / entry.value("attestation", "");
    if (!std::filesystem::exists(attestation)) {
      check.reason = fmt::format("{}: attestation {} is missing", where, attestation.string());
      return check;
    }
    if (sha256_file(attestation) != entry.value("attestation_sha256", "")) {
      check.reason = fmt::format("{}: attestation {} changed since it was chained", where, attestation.string());
      return check;
    }
    previous = entry["hash"].get<std::string>();
  }
  // The last entry has no successor to betray its removal; the attestations on disk do.
  std::set<std::string> chained;
  for (const auto& entry : entries) chained.insert(entry.value("attestation", ""));
  std::error_code error;
  for (const auto& run : std::filesystem::directory_iterator(runs_dir, error)) {
    auto attestation = run.path() / "attestation.dsse.json";
    if (!std::filesystem::exists(attestation)) continue;
    auto name = std::filesystem::relative(attestation, runs_dir).string();
    if (!chained.count(name)) {
      check.reason = fmt::format("{} is signed but not in the chain (its entry was removed)", name);
      return check;
    }
  }
  check.valid = true;
  return check;
}

}  // namespace firedrill::attestation
