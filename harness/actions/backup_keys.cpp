// The keys of backups and what they sign: an encryption key read from its file (the mode checked
// on the descriptor read, the bytes wiped after use), the manifest key derived from it or kept
// by the machine, and the manifest's HMAC-SHA256 made and checked with that key.
#include "harness/actions/backup_repository.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace firedrill {
namespace {

std::string hex(const unsigned char* bytes, std::size_t size) {
  std::string text;
  for (std::size_t i = 0; i < size; ++i) text += fmt::format("{:02x}", bytes[i]);
  return text;
}

}  // namespace

EncryptionKey::~EncryptionKey() { OPENSSL_cleanse(bytes.data(), bytes.size()); }

ManifestKey::~ManifestKey() { OPENSSL_cleanse(bytes.data(), bytes.size()); }

namespace {

/// A key file's text, wiped when it goes.
struct KeyText {
  std::string text;
  ~KeyText() { OPENSSL_cleanse(text.data(), text.size()); }
};

}  // namespace

EncryptionKey EncryptionKey::load(const std::filesystem::path& key_file) {
  // The mode is checked on the descriptor that is read, so the file cannot change in between,
  // and the bytes go straight into one buffer that is wiped (no stream buffer keeps a copy).
  const int fd = ::open(key_file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat status {};
  if (fd < 0 || ::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    if (fd >= 0) ::close(fd);
    throw ActionFailed(fmt::format("encryption key file {} cannot be read", key_file.string()));
  }
  if ((status.st_mode & 077) != 0) {
    ::close(fd);
    throw ActionFailed(fmt::format(
        "encryption key file {} has mode {:04o}: it must be readable by its owner only (chmod 600 {})",
        key_file.string(), status.st_mode & 07777, key_file.string()));
  }
  if (status.st_size > 4096) {
    ::close(fd);
    throw ActionFailed(fmt::format(
        "encryption key file {} must hold 32 bytes or 64 hex digits (openssl rand -hex 32)", key_file.string()));
  }
  KeyText file;
  file.text.assign(static_cast<std::size_t>(status.st_size), '\0');
  std::size_t got = 0;
  while (got < file.text.size()) {
    const ssize_t n = ::read(fd, file.text.data() + got, file.text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  file.text.resize(got);
  std::string& text = file.text;
  EncryptionKey key;
  if (text.size() == 32) {
    key.bytes.assign(text.begin(), text.end());
  } else {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    const bool is_hex = text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
                          return std::isxdigit(static_cast<unsigned char>(c)) != 0;
                        });
    if (!is_hex)
      throw ActionFailed(fmt::format(
          "encryption key file {} must hold 32 bytes or 64 hex digits (openssl rand -hex 32)", key_file.string()));
    key.bytes.reserve(32);
    for (std::size_t i = 0; i < 64; i += 2) {
      const auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10); };
      key.bytes.push_back(static_cast<unsigned char>(digit(text[i]) * 16 + digit(text[i + 1])));
    }
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(key.bytes.data(), key.bytes.size(), digest);
  key.id = hex(digest, 8);
  return key;
}

namespace {

struct KeyContextDeleter {
  void operator()(EVP_PKEY_CTX* context) const { EVP_PKEY_CTX_free(context); }
};

constexpr const char* manifest_key_label = "firedrill backup manifest hmac-sha256 v2";

std::string key_id(const std::vector<unsigned char>& bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(bytes.data(), bytes.size(), digest);
  return hex(digest, 8);
}

/// The bytes a manifest's HMAC covers: the manifest without its MAC, as compact JSON with sorted
/// keys (nlohmann::json keeps object keys sorted), so a re-indented file still verifies.
std::string canonical_manifest(nlohmann::json manifest) {
  manifest.erase("hmac_sha256");
  return manifest.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string manifest_hmac(const nlohmann::json& manifest, const ManifestKey& key) {
  const std::string text = canonical_manifest(manifest);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  if (HMAC(EVP_sha256(), key.bytes.data(), static_cast<int>(key.bytes.size()),
           reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &mac_size) == nullptr)
    throw ActionFailed("cannot compute the manifest's HMAC-SHA256");
  return hex(mac, mac_size);
}

/// Writes a new machine key exclusively: under a temporary name, then linked into place, so two
/// runs creating it at once end with one complete key.
void create_machine_key(const std::filesystem::path& key_file) {
  std::error_code error;
  std::filesystem::create_directories(key_file.parent_path(), error);
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) throw ActionFailed("cannot generate a manifest key");
  std::string text = hex(bytes.data(), bytes.size()) + "\n";
  OPENSSL_cleanse(bytes.data(), bytes.size());
  std::string partial = key_file.string() + ".partial-XXXXXX";
  const int fd = ::mkstemp(partial.data());
  if (fd < 0)
    throw ActionFailed(fmt::format("cannot create the backup manifest key {}: {}", key_file.string(), std::strerror(errno)));
  const bool written = ::fchmod(fd, 0600) == 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  OPENSSL_cleanse(text.data(), text.size());
  ::close(fd);
  const bool linked = written && (::link(partial.c_str(), key_file.c_str()) == 0 || errno == EEXIST);
  const int saved = errno;
  ::unlink(partial.c_str());
  if (!linked)
    throw ActionFailed(fmt::format("cannot create the backup manifest key {}: {}", key_file.string(), std::strerror(saved)));
}

}  // namespace

ManifestKey ManifestKey::derived_from(const EncryptionKey& key) {
  std::unique_ptr<EVP_PKEY_CTX, KeyContextDeleter> context(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  ManifestKey derived;
  derived.bytes.resize(32);
  std::size_t size = derived.bytes.size();
  const std::string label = manifest_key_label;
  if (!context || EVP_PKEY_derive_init(context.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(context.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(context.get(), key.bytes.data(), static_cast<int>(key.bytes.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(context.get(), reinterpret_cast<const unsigned char*>(label.data()),
                                  static_cast<int>(label.size())) <= 0 ||
      EVP_PKEY_derive(context.get(), derived.bytes.data(), &size) <= 0 || size != derived.bytes.size())
    throw ActionFailed("cannot derive the manifest key (HKDF-SHA256)");
  derived.id = key_id(derived.bytes);
  return derived;
}

ManifestKey ManifestKey::of_machine(const std::filesystem::path& key_file, bool create) {
  if (key_file.empty()) throw ActionFailed("no backup manifest key is configured for this run");
  if (create && !std::filesystem::exists(std::filesystem::symlink_status(key_file))) create_machine_key(key_file);
  if (!std::filesystem::exists(key_file))
    throw ActionFailed(fmt::format("the backup manifest key {} does not exist: this machine wrote no unencrypted "
                                   "backup (copy the key of the machine that did, mode 0600)",
                                   key_file.string()));
  EncryptionKey loaded;
  try {
    loaded = EncryptionKey::load(key_file);
  } catch (const ActionFailed& failure) {
    throw ActionFailed(fmt::format("backup manifest key: {}", failure.what()));
  }
  ManifestKey key;
  key.bytes = std::move(loaded.bytes);
  key.id = key_id(key.bytes);
  return key;
}

nlohmann::json seal_manifest(nlohmann::json manifest, const ManifestKey& key) {
  manifest["schema"] = backup_manifest_schema;
  manifest["mac_key_id"] = key.id;
  // As the file will be read back: anything not UTF-8 replaced, so the MAC covers what is read.
  manifest = nlohmann::json::parse(canonical_manifest(manifest));
  manifest["hmac_sha256"] = manifest_hmac(manifest, key);
  return manifest;
}

void authenticate_manifest(const nlohmann::json& manifest, const ManifestKey& key, const std::string& backup_id) {
  if (!manifest.contains("hmac_sha256"))
    throw ActionFailed(fmt::format(
        "backup {}: its manifest is not authenticated (schema {}, written before firedrill signed manifests): whoever "
        "can write the repository could have changed it, so it is refused; take a new backup",
        backup_id, manifest.value("schema", "unknown")));
  if (manifest.value("schema", "") != backup_manifest_schema)
    throw ActionFailed(fmt::format("backup {}: manifest schema {} is not {}", backup_id, manifest.value("schema", "unknown"),
                                   backup_manifest_schema));
  if (manifest.value("mac_key_id", "") != key.id)
    throw ActionFailed(fmt::format("backup {}: its manifest was authenticated with manifest key {}, not with this one ({}): "
                                   "a manifest written elsewhere or forged, refused",
                                   backup_id, manifest.value("mac_key_id", "?"), key.id));
  const auto& given = manifest["hmac_sha256"];
  const std::string expected = manifest_hmac(manifest, key);
  const bool matches = given.is_string() && given.get_ref<const std::string&>().size() == expected.size() &&
                       CRYPTO_memcmp(given.get_ref<const std::string&>().data(), expected.data(), expected.size()) == 0;
  if (!matches)
    throw ActionFailed(fmt::format("backup {}: manifest.json fails authentication (HMAC-SHA256 mismatch): it was changed "
                                   "after firedrill wrote it, so nothing in it is used",
                                   backup_id));
  if (manifest.value("backup_id", "") != backup_id)
    throw ActionFailed(fmt::format("backup {}: its folder holds the manifest of backup {}: a set moved or swapped, refused",
                                   backup_id, manifest.value("backup_id", "?")));
}

}  // namespace firedrill
