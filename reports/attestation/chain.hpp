#pragma once
// The evidence chain: `chain.jsonl` in a runs directory, one entry per signed run, each holding
// the SHA-256 of the run's attestation and of the entry before it. Removing, reordering,
// inserting or altering an entry, or changing an attestation it names, breaks the chain.
//
// The chain itself is unkeyed: anyone who can write the directory can rewrite it whole. What
// anchors it is signatures: each run signs the chain head it extends (predicate `chain: {seq,
// prev}`), so an entry removed or rewritten before a signed run is caught by that run's
// signature (`verify_chain` with keys), and a roll-up signs the head it covered
// (`chain_extends`). Entries after the last signed anchor, removed together with their runs,
// remain undetectable from inside the directory.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/attestation/keys.hpp"
#include "reports/attestation/statement.hpp"

namespace firedrill::attestation {

/// The hash a chain's first entry names as its predecessor.
inline constexpr std::string_view chain_genesis = "0000000000000000000000000000000000000000000000000000000000000000";
/// Larger chain or attestation files are refused rather than read: a file that size is not one
/// firedrill wrote (a 100 000-entry chain is about 30 MiB).
inline constexpr std::uintmax_t max_chain_bytes = std::uintmax_t{1} << 30;
inline constexpr std::uintmax_t max_attestation_bytes = std::uintmax_t{16} << 20;

/// A runs directory with no chain.jsonl, or a chain that cannot be appended to (a malformed
/// entry before the last line). The CLI maps it to exit 2 (no chain) or reports it.
class ChainError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Appends the entry for one signed run (under an exclusive lock, so concurrent runs writing
/// into one directory each get their own sequence number; written with one write(2) and
/// fsynced). Returns the entry. Throws ChainError when the chain is malformed.
nlohmann::json append_to_chain(const std::filesystem::path& runs_dir, const std::string& run_id,
                               const std::filesystem::path& attestation);

struct ChainCheck {
  bool valid = false;
  std::size_t entries = 0;
  std::string reason;  ///< the first break found, naming the entry's line and run id
  /// True when the break is one `repair_chain` mends: a torn last line, or signed runs whose
  /// entries a crash kept from being written (their signed anchor extends the head).
  bool repairable = false;
  std::size_t head_seq = 0;                  ///< the last entry's sequence number (0: empty chain)
  std::string head_hash{chain_genesis};      ///< the last entry's hash
  std::size_t anchors_checked = 0;           ///< entries whose attestation's signed anchor matched (with keys)
  std::size_t unanchored = 0;                ///< verified attestations signed before anchors existed
  std::size_t completed_after_crash = 0;     ///< entries written by a repair, not by their own run
};

/// Checks every entry (types, sequence, link, own hash), every attestation's digest (each a
/// regular file RUN/attestation.dsse.json inside runs_dir, at most max_attestation_bytes), and
/// that every signed run in runs_dir is chained. With trusted_keys also each attestation's
/// signature, that it is the entry's run, and its signed anchor against the entry. Malformed
/// entries are an invalid chain with a sentence, never an exception; throws ChainError only when
/// runs_dir has no chain.jsonl (not a chain at all: exit 2).
ChainCheck verify_chain(const std::filesystem::path& runs_dir, const std::vector<PublicKey>& trusted_keys = {});

/// What repair_chain (or sign_and_chain, before it signs) mended.
struct ChainRepair {
  std::uintmax_t torn_bytes_removed = 0;
  std::vector<std::string> completed;  ///< run ids chained after a crash, marked completed_after_crash
  bool signatures_checked = false;     ///< false when completed without a key to verify them
};

/// Under the chain's lock: truncates a torn last line, then chains every signed run whose
/// signed anchor extends the head (a run killed between signing and chaining), in anchor order.
/// With trusted_keys, only attestations signed by one of them are chained. Throws ChainError
/// when the chain has a malformed entry before its last line (nothing is changed then).
ChainRepair repair_chain(const std::filesystem::path& runs_dir, const std::vector<PublicKey>& trusted_keys = {});

/// A run signed and chained by sign_and_chain.
struct ChainedRun {
  std::filesystem::path attestation;
  nlohmann::json entry;
  ChainRepair repair;  ///< what had to be mended first
};

/// How `firedrill run` signs: under the chain's lock, repairs the chain (as repair_chain, trusting
/// key), signs run_dir with the anchor of the next entry, then appends that entry. A kill at any
/// point leaves a chain that the next call or repair_chain completes. stage_reached, when set, is
/// called with "locked", "signed" and "chained" (tests kill the process there).
ChainedRun sign_and_chain(const std::filesystem::path& runs_dir, const std::string& run_id,
                          const std::filesystem::path& run_dir, const SigningKey& key,
                          const std::function<void(std::string_view stage)>& stage_reached = {});

/// Whether runs_dir's chain still holds entry seq with hash (a head a roll-up signed): nullopt
/// when it does, else why not (truncated, rewritten, unreadable).
std::optional<std::string> chain_extends(const std::filesystem::path& runs_dir, std::size_t seq, const std::string& hash);

}  // namespace firedrill::attestation
