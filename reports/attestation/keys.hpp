#pragma once
// Signing keys for attestations: PKCS#8 PEM private keys and SPKI PEM public keys, Ed25519 or
// ECDSA P-256, through OpenSSL 3's EVP interface. Key material never appears in a message.
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <openssl/evp.h>

namespace firedrill::attestation {

/// A key file that cannot be used: unreadable, not PEM, encrypted, or of an unsupported
/// algorithm. The message names the file; the CLI maps it to exit 2.
class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class KeyAlgorithm { ed25519, ecdsa_p256 };

/// "ed25519" or "ecdsa-p256".
std::string_view algorithm_name(KeyAlgorithm algorithm);

using PkeyHandle = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

/// A trusted public key: verifies DSSE signatures over PAE bytes.
class PublicKey {
 public:
  /// Reads an SPKI PEM file ("-----BEGIN PUBLIC KEY-----"). Throws KeyError naming the file.
  static PublicKey load(const std::filesystem::path& file);
  /// Parses SPKI PEM text; origin names it in errors. Throws KeyError.
  static PublicKey from_pem(std::string_view pem, const std::string& origin);

  KeyAlgorithm algorithm() const { return algorithm_; }
  /// Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo.
  const std::string& key_id() const { return key_id_; }
  /// SPKI PEM text.
  std::string pem() const;
  /// True when signature is this key's signature of message: Ed25519 over the message itself;
  /// ECDSA P-256 over SHA-256(message), the signature DER-encoded (the one encoding accepted; raw
  /// r||s is refused, so no signature has a second valid form).
  bool verify(std::string_view message, std::string_view signature) const;

 private:
  PublicKey(PkeyHandle key, KeyAlgorithm algorithm, std::string key_id);
  std::shared_ptr<EVP_PKEY> key_;
  KeyAlgorithm algorithm_;
  std::string key_id_;
};

/// A private signing key.
class SigningKey {
 public:
  /// Reads an unencrypted PKCS#8 PEM file ("-----BEGIN PRIVATE KEY-----") that only its owner
  /// may read or write (0600 or 0400); its bytes are wiped once parsed. Throws KeyError naming
  /// the file for anything else.
  static SigningKey load(const std::filesystem::path& file);
  /// A fresh key (for keygen and tests).
  static SigningKey generate(KeyAlgorithm algorithm);

  KeyAlgorithm algorithm() const { return algorithm_; }
  /// The key id of the public half.
  const std::string& key_id() const { return key_id_; }
  PublicKey public_key() const;
  /// Ed25519 signs message directly; ECDSA P-256 signs SHA-256(message), DER-encoded (as cosign).
  std::string sign(std::string_view message) const;
  /// PKCS#8 PEM text of the private key (for keygen; never log it).
  std::string private_pem() const;

 private:
  SigningKey(PkeyHandle key, KeyAlgorithm algorithm, std::string key_id);
  std::shared_ptr<EVP_PKEY> key_;
  KeyAlgorithm algorithm_;
  std::string key_id_;
};

struct GeneratedKeyFiles {
  std::filesystem::path private_key;  ///< PREFIX.key, PKCS#8 PEM, mode 0600
  std::filesystem::path public_key;   ///< PREFIX.pub, SPKI PEM, mode 0644
  std::string key_id;
};

/// Writes a new key pair to PREFIX.key and PREFIX.pub. The private file is created with
/// O_EXCL and mode 0600, so it is never readable by others, not even briefly. Refuses to
/// overwrite either file (throws KeyError naming it); on failure leaves no partial pair.
GeneratedKeyFiles keygen(const std::string& prefix, KeyAlgorithm algorithm = KeyAlgorithm::ed25519);

}  // namespace firedrill::attestation
