#pragma once
// in-toto Statement v1 over a run directory, its drill predicate, and the signed attestation
// file attestation.dsse.json (DESIGN.md "Attestation").
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/attestation/dsse.hpp"
#include "reports/attestation/keys.hpp"

namespace firedrill::attestation {

inline constexpr std::string_view in_toto_payload_type = "application/vnd.in-toto+json";
inline constexpr std::string_view statement_type = "https://in-toto.io/Statement/v1";
inline constexpr std::string_view drill_predicate_type = "https://firedrill.dev/attestation/drill/v1";
inline constexpr std::string_view attestation_file_name = "attestation.dsse.json";
/// The Verification Summary `firedrill gate` writes (SLSA VSA v1).
inline constexpr std::string_view vsa_predicate_type = "https://slsa.dev/verification_summary/v1";

/// The run files an attestation covers, in subject order; those absent from a run are skipped
/// (report.json is required).
const std::vector<std::string>& attested_run_files();

/// Where a signed run sits in its runs directory's evidence chain (chain.jsonl): the sequence
/// number its entry gets and the hash of the entry before it (the chain head it extends). Signed
/// inside the predicate, so removing or rewriting any earlier entry is caught by this signature.
struct ChainAnchor {
  std::size_t seq = 0;
  std::string prev;
};

/// The drill predicate (schema: reports/attestation/predicate.schema.json) built from a
/// firedrill/report/v1 report: scenario, runbook, targets and components, measured RTO/RPO and
/// lost writes, verdict, `expected` and the in-toto `result` (PASSED when the verdict is the one
/// expected: a pass, or a fail for an `expect: fail` drill), `configuration` resource
/// descriptors (the scenario file and every image with its digest), times, runtime, version,
/// signer key id, mode and, when given, the chain anchor as `chain: {seq, prev}`.
nlohmann::json drill_predicate(const nlohmann::json& report, const std::string& signer_key_id,
                               const std::optional<ChainAnchor>& anchor = std::nullopt);

/// A Statement v1 with subjects [{name, digest: {sha256}}] for the attested files of run_dir.
/// Throws std::runtime_error when report.json is missing or unreadable.
nlohmann::json run_statement(const std::filesystem::path& run_dir, const std::string& signer_key_id,
                             const std::optional<ChainAnchor>& anchor = std::nullopt);

/// Signs run_statement(run_dir) with key and writes run_dir/attestation.dsse.json (atomically:
/// written, fsynced, renamed). Returns its path. `firedrill run` signs through sign_and_chain
/// (chain.hpp), which supplies the anchor.
std::filesystem::path sign_run_directory(const std::filesystem::path& run_dir, const SigningKey& key,
                                         const std::optional<ChainAnchor>& anchor = std::nullopt);

struct VerificationResult {
  bool valid = false;
  /// Why not valid, precise: bad signature, wrong key, payload type, statement type, predicate
  /// type, a subject missing or changed (named). Empty when valid.
  std::string reason;
  /// The Statement parsed from the verified payload bytes; null unless the signature verified.
  nlohmann::json statement;
  /// Subjects whose digest was checked against artifacts_dir.
  std::size_t subjects_checked = 0;
  /// The trusted key whose signature verified (not the signer the payload claims); empty unless
  /// valid.
  std::string verified_key_id;
};

/// Verifies the envelope in file against trusted_key, then that its payload is an in-toto
/// Statement v1 with the drill predicate type, then, when artifacts_dir is given, that every
/// subject exists there with the attested SHA-256. Throws EnvelopeError when file is not a
/// readable DSSE envelope.
VerificationResult verify_envelope(const std::filesystem::path& file, const PublicKey& trusted_key,
                                   const std::optional<std::filesystem::path>& artifacts_dir = std::nullopt);

/// The same for an envelope already parsed.
VerificationResult verify_envelope(const Envelope& envelope, const PublicKey& trusted_key,
                                   const std::optional<std::filesystem::path>& artifacts_dir = std::nullopt);

/// Reads and parses the DSSE envelope in file. Throws EnvelopeError naming the file when it is
/// unreadable or not an envelope.
Envelope read_envelope(const std::filesystem::path& file);

/// verify_envelope for any in-toto Statement: the signature by some key of trusted_keys (each is
/// tried), the payload and Statement types, predicate_type, and — with artifacts_dir — every
/// subject's SHA-256 there. When no key verifies, the reason is the first key's.
VerificationResult verify_statement(const Envelope& envelope, const std::vector<PublicKey>& trusted_keys,
                                    std::string_view predicate_type,
                                    const std::optional<std::filesystem::path>& artifacts_dir = std::nullopt);

}  // namespace firedrill::attestation
