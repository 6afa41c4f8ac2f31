#pragma once
// Dead Simple Signing Envelope (DSSE v1): the pre-authentication encoding, the JSON envelope,
// signing and verification against one trusted key.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/attestation/keys.hpp"

namespace firedrill::attestation {

/// A file or JSON value that is not a DSSE envelope at all (unreadable, not JSON, fields missing
/// or of the wrong type). Distinct from an envelope that fails verification; the CLI maps it to
/// exit 2.
class EnvelopeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in ASCII decimal bytes.
std::string pae(std::string_view payload_type, std::string_view body);

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);
/// Decodes standard or URL-safe base64, padded or not; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

struct EnvelopeSignature {
  std::string keyid;  ///< an unauthenticated hint; never used to decide anything
  std::string sig;    ///< base64 text exactly as in the envelope
};

/// The envelope as written; payload and sig stay base64 text until verified.
struct Envelope {
  std::string payload_type;
  std::string payload;  ///< base64 text exactly as in the envelope
  std::vector<EnvelopeSignature> signatures;
};

/// {"payloadType", "payload", "signatures": [{"keyid", "sig"}]}.
nlohmann::json to_json(const Envelope& envelope);
/// Throws EnvelopeError when json lacks payloadType/payload (strings) or signatures (an array of
/// objects with a string sig; keyid optional).
Envelope envelope_from_json(const nlohmann::json& json);

/// Signs payload (the serialized body) under payload_type with key.
Envelope sign_envelope(std::string_view payload_type, std::string_view payload, const SigningKey& key);

struct SignatureCheck {
  bool verified = false;
  /// The decoded payload bytes; set only when verified.
  std::string payload;
  /// Why not verified: undecodable payload, no signatures, or no signature valid for the key
  /// (worded as a wrong key when every keyid hint names another key).
  std::string reason;
};

/// Verifies that some signature of envelope is trusted_key's signature of
/// PAE(payloadType, payload). Every signature is tried regardless of its keyid; standard and
/// URL-safe base64 are accepted. Does not look at payloadType's value.
SignatureCheck verify_signatures(const Envelope& envelope, const PublicKey& trusted_key);

}  // namespace firedrill::attestation
