#include "reports/attestation/keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "reports/artifacts.hpp"

namespace firedrill::attestation {
namespace {

using BioHandle = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// The last OpenSSL reason, without any data from the key itself; clears the queue.
std::string openssl_reason() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : fmt::format("OpenSSL error {:#x}", code);
}

// A std::string whose bytes are wiped before they are released.
struct WipedString {
  std::string text;
  ~WipedString() { OPENSSL_cleanse(text.data(), text.size()); }
};

/// The file's bytes, read straight into the one buffer the caller wipes (no stream buffer keeps
/// another copy). A private key's file must be its owner's alone: anyone else who can read it can
/// sign as this machine, as with backup keys.
std::string read_key_file(const std::filesystem::path& file, bool private_key) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw KeyError(fmt::format("{}: cannot read key file: {}", file.string(), std::strerror(errno)));
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(fd);
    throw KeyError(fmt::format("{}: not a regular file", file.string()));
  }
  if (private_key && (status.st_mode & 077) != 0) {
    ::close(fd);
    throw KeyError(fmt::format("{}: has mode {:04o}: a signing key must be readable by its owner only (chmod 600 {})",
                               file.string(), status.st_mode & 07777, file.string()));
  }
  // Key files are small; a larger one is not a key and is not read.
  constexpr off_t largest = 1 << 16;
  if (status.st_size > largest) {
    ::close(fd);
    throw KeyError(fmt::format("{}: {} bytes is too large for a PEM key", file.string(), status.st_size));
  }
  std::string content(static_cast<std::size_t>(status.st_size), '\0');
  std::size_t got = 0;
  while (got < content.size()) {
    const ssize_t n = ::read(fd, content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  content.resize(got);
  return content;
}

int refuse_password(char*, int, int, void*) { return -1; }

KeyAlgorithm supported_algorithm(EVP_PKEY* key, const std::string& origin) {
  if (EVP_PKEY_is_a(key, "ED25519")) return KeyAlgorithm::ed25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) == 1 &&
        (std::string_view(group) == "prime256v1" || std::string_view(group) == "P-256"))
      return KeyAlgorithm::ecdsa_p256;
    throw KeyError(fmt::format("{}: unsupported elliptic curve '{}' (use Ed25519 or ECDSA P-256)", origin, group));
  }
  throw KeyError(fmt::format("{}: unsupported key type {} (use Ed25519 or ECDSA P-256)", origin,
                             EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown"));
}

std::string der_key_id(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int length = i2d_PUBKEY(key, &der);
  if (length <= 0) throw KeyError("cannot encode public key: " + openssl_reason());
  std::string bytes(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  return sha256_hex(bytes);
}

const EVP_MD* digest_for(KeyAlgorithm algorithm) {
  return algorithm == KeyAlgorithm::ed25519 ? nullptr : EVP_sha256();
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(length));
  OPENSSL_cleanse(data, static_cast<std::size_t>(length));
  return text;
}

bool verify_once(EVP_PKEY* key, KeyAlgorithm algorithm, std::string_view message, std::string_view signature) {
  MdContext context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!context || EVP_DigestVerifyInit(context.get(), nullptr, digest_for(algorithm), nullptr, key) != 1) {
    ERR_clear_error();
    return false;
  }
  int verdict = EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                 signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                                 message.size());
  ERR_clear_error();
  return verdict == 1;
}

void write_new_file(const std::filesystem::path& file, const std::string& content, mode_t mode) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) throw KeyError(fmt::format("{}: already exists; refusing to overwrite", file.string()));
    throw KeyError(fmt::format("{}: cannot create: {}", file.string(), std::strerror(errno)));
  }
  // The umask can only remove bits; set them exactly so the mode does not depend on it.
  bool ok = ::fchmod(fd, mode) == 0;
  std::size_t written = 0;
  while (ok && written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  int saved = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    std::filesystem::remove(file);
    throw KeyError(fmt::format("{}: cannot write: {}", file.string(), std::strerror(saved)));
  }
}

}  // namespace

std::string_view algorithm_name(KeyAlgorithm algorithm) {
  return algorithm == KeyAlgorithm::ed25519 ? "ed25519" : "ecdsa-p256";
}

PublicKey::PublicKey(PkeyHandle key, KeyAlgorithm algorithm, std::string key_id)
    : key_(key.release(), EVP_PKEY_free), algorithm_(algorithm), key_id_(std::move(key_id)) {}

PublicKey PublicKey::load(const std::filesystem::path& file) {
  return from_pem(read_key_file(file, false), file.string());
}

PublicKey PublicKey::from_pem(std::string_view pem, const std::string& origin) {
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos)
    throw KeyError(fmt::format("{}: is a private key; verification takes the public key (SPKI PEM)", origin));
  BioHandle bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  PkeyHandle key(PEM_read_bio_PUBKEY(bio.get(), nullptr, refuse_password, nullptr), EVP_PKEY_free);
  if (!key) throw KeyError(fmt::format("{}: not an SPKI PEM public key ({})", origin, openssl_reason()));
  auto algorithm = supported_algorithm(key.get(), origin);
  auto id = der_key_id(key.get());
  return PublicKey(std::move(key), algorithm, std::move(id));
}

std::string PublicKey::pem() const {
  BioHandle bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1)
    throw KeyError("cannot encode public key: " + openssl_reason());
  return bio_text(bio.get());
}

bool PublicKey::verify(std::string_view message, std::string_view signature) const {
  // One encoding only: ECDSA signatures are DER, as Sigstore, cosign, OpenSSL and Python's
  // cryptography write them (and OpenSSL refuses a DER that is not the canonical encoding). Also
  // accepting raw r||s would give every signature a second valid form.
  return verify_once(key_.get(), algorithm_, message, signature);
}

SigningKey::SigningKey(PkeyHandle key, KeyAlgorithm algorithm, std::string key_id)
    : key_(key.release(), EVP_PKEY_free), algorithm_(algorithm), key_id_(std::move(key_id)) {}

SigningKey SigningKey::load(const std::filesystem::path& file) {
  WipedString pem{read_key_file(file, true)};
  const auto origin = file.string();
  if (pem.text.find("ENCRYPTED PRIVATE KEY-----") != std::string::npos)
    throw KeyError(fmt::format("{}: encrypted private keys are not supported (write it unencrypted, mode 0600)", origin));
  if (pem.text.find("PRIVATE KEY-----") == std::string::npos) {
    if (pem.text.find("PUBLIC KEY-----") != std::string::npos)
      throw KeyError(fmt::format("{}: is a public key; signing needs the private key (PKCS#8 PEM)", origin));
    throw KeyError(fmt::format("{}: not a PEM private key (expected PKCS#8 '-----BEGIN PRIVATE KEY-----')", origin));
  }
  BioHandle bio(BIO_new_mem_buf(pem.text.data(), static_cast<int>(pem.text.size())), BIO_free);
  PkeyHandle key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_password, nullptr), EVP_PKEY_free);
  if (!key) throw KeyError(fmt::format("{}: corrupt private key ({})", origin, openssl_reason()));
  auto algorithm = supported_algorithm(key.get(), origin);
  auto id = der_key_id(key.get());
  return SigningKey(std::move(key), algorithm, std::move(id));
}

SigningKey SigningKey::generate(KeyAlgorithm algorithm) {
  EVP_PKEY* raw = algorithm == KeyAlgorithm::ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                                                     : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (!raw) throw KeyError("cannot generate key: " + openssl_reason());
  PkeyHandle key(raw, EVP_PKEY_free);
  auto id = der_key_id(key.get());
  return SigningKey(std::move(key), algorithm, std::move(id));
}

PublicKey SigningKey::public_key() const {
  BioHandle bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1)
    throw KeyError("cannot encode public key: " + openssl_reason());
  return PublicKey::from_pem(bio_text(bio.get()), "public key of " + key_id_);
}

std::string SigningKey::sign(std::string_view message) const {
  MdContext context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!context || EVP_DigestSignInit(context.get(), nullptr, digest_for(algorithm_), nullptr, key_.get()) != 1)
    throw std::runtime_error("cannot start signing: " + openssl_reason());
  std::size_t length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(message.data());
  if (EVP_DigestSign(context.get(), nullptr, &length, data, message.size()) != 1)
    throw std::runtime_error("cannot sign: " + openssl_reason());
  std::string signature(length, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data,
                     message.size()) != 1)
    throw std::runtime_error("cannot sign: " + openssl_reason());
  signature.resize(length);
  return signature;
}

std::string SigningKey::private_pem() const {
  BioHandle bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    throw KeyError("cannot encode private key: " + openssl_reason());
  return bio_text(bio.get());
}

GeneratedKeyFiles keygen(const std::string& prefix, KeyAlgorithm algorithm) {
  GeneratedKeyFiles files{prefix + ".key", prefix + ".pub", {}};
  for (const auto& file : {files.private_key, files.public_key}) {
    std::error_code error;
    if (std::filesystem::symlink_status(file, error).type() != std::filesystem::file_type::not_found)
      throw KeyError(fmt::format("{}: already exists; refusing to overwrite", file.string()));
  }
  auto key = SigningKey::generate(algorithm);
  files.key_id = key.key_id();
  {
    WipedString pem{key.private_pem()};
    write_new_file(files.private_key, pem.text, 0600);
  }
  try {
    write_new_file(files.public_key, key.public_key().pem(), 0644);
  } catch (...) {
    std::filesystem::remove(files.private_key);
    throw;
  }
  return files;
}

}  // namespace firedrill::attestation
