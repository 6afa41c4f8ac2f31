#pragma once
// The evidence chain: `chain.jsonl` in a runs directory, one entry per signed run, each holding
// the SHA-256 of the run's attestation and of the entry before it. Removing, reordering,
// inserting or altering an entry, or changing an attestation it names, breaks the chain.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace firedrill::attestation {

/// Appends the entry for one signed run (under an exclusive lock, so concurrent runs writing
/// into one directory each get their own sequence number). Returns the entry.
nlohmann::json append_to_chain(const std::filesystem::path& runs_dir, const std::string& run_id,
                               const std::filesystem::path& attestation);

struct ChainCheck {
  bool valid = false;
  std::size_t entries = 0;
  std::string reason;  // the first break found, naming the entry's line and run id
};

/// Checks every link and every attestation digest. Throws std::runtime_error when `runs_dir`
/// has no chain.jsonl or a line is not an entry (not a chain at all: exit 2).
ChainCheck verify_chain(const std::filesystem::path& runs_dir);

}  // namespace firedrill::attestation
