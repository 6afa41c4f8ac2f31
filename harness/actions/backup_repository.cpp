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
#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "core/confined_file.hpp"
#include "core/hashing.hpp"
#include "core/host_paths.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/services/service.hpp"

namespace firedrill {
namespace {

constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;
constexpr std::size_t chunk_size = 1 << 20;

struct CipherDeleter {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter>;

std::string hex(const unsigned char* bytes, std::size_t size) {
  std::string text;
  for (std::size_t i = 0; i < size; ++i) text += fmt::format("{:02x}", bytes[i]);
  return text;
}

std::ofstream open_output(const std::filesystem::path& file) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) throw ActionFailed(fmt::format("cannot write {}", file.string()));
  return out;
}

std::ifstream open_input(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ActionFailed(fmt::format("cannot read {}", file.string()));
  return in;
}

}  // namespace

std::filesystem::path backup_repository(const ActionContext& context, const StepSpec& step) {
  return repository_directory(step.param_text("repository"), context.run_directory);
}

std::string new_backup_id(const std::string& service, Micros now) {
  const std::string stamp = format_rfc3339_micros(now);  // 2026-11-25T15:30:12.345678Z
  std::string compact;
  for (char c : stamp.substr(0, 23))
    if (c != '-' && c != ':') compact += c;
  return fmt::format("{}Z-{}", compact, service);
}

std::filesystem::path find_backup(const std::filesystem::path& repository, const std::string& id,
                                  const std::string& service, const std::vector<Event>& history) {
  if (id != "latest") {
    if (id.empty() || id.find('/') != std::string::npos || id == "..")
      throw ActionFailed(fmt::format("'{}' is not a backup id", id));
    const auto folder = repository / id;
    if (!std::filesystem::exists(folder / "manifest.json"))
      throw ActionFailed(fmt::format("no backup '{}' in {} (no manifest.json)", id, repository.string()));
    return folder;
  }
  // By folder name, not by reading manifests: a newest backup whose manifest was damaged must be
  // the one verified (and fail), not silently passed over for an older one.
  const std::string suffix = "Z-" + service;
  std::filesystem::path newest;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(repository, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(suffix) || !std::filesystem::exists(entry.path() / "manifest.json")) continue;
    if (newest.empty() || name > newest.filename().string()) newest = entry.path();
  }
  const auto written = newest_written_backup(history, repository, service, [](const std::string&) { return true; });
  if (newest.empty() && written)
    throw ActionFailed(fmt::format("no backup of '{}' in {}, but this run wrote {} there: the repository was changed "
                                   "under the drill",
                                   service, repository.string(), written->id));
  if (newest.empty())
    throw ActionFailed(fmt::format("no backup of '{}' in {}", service, repository.string()));
  refuse_rolled_back(newest, written);
  return newest;
}

std::optional<WrittenBackup> newest_written_backup(const std::vector<Event>& history,
                                                   const std::filesystem::path& repository, const std::string& service,
                                                   const std::function<bool(const std::string& method)>& counts) {
  std::error_code error;
  const auto canonical_repository = std::filesystem::weakly_canonical(repository, error);
  std::optional<WrittenBackup> newest;
  for (const Event& event : history) {
    if (event.kind != "backup.finished" || event.details.value("service", "") != service) continue;
    const std::string written_to = event.details.value("repository", "");
    if (written_to.empty() || std::filesystem::weakly_canonical(written_to, error) != canonical_repository) continue;
    WrittenBackup backup{event.details.value("backup_id", ""), event.details.value("method", ""),
                         event.details.value("manifest_sha256", "")};
    if (!counts(backup.method)) continue;
    if (!newest || backup.id > newest->id) newest = backup;
  }
  return newest;
}

void refuse_rolled_back(const std::filesystem::path& folder, const std::optional<WrittenBackup>& written) {
  if (!written) return;
  const std::string id = folder.filename().string();
  if (id < written->id)
    throw ActionFailed(fmt::format("the newest backup in {} is {}, but this run wrote {} there: the repository was "
                                   "rolled back (a newer set was removed or hidden), so it is not trusted",
                                   folder.parent_path().string(), id, written->id));
  if (id == written->id && sha256_file(folder / "manifest.json") != written->manifest_sha256)
    throw ActionFailed(fmt::format("backup {}: manifest.json is not the one this run wrote (sha256 {}, written {})", id,
                                   sha256_file(folder / "manifest.json"), written->manifest_sha256));
}

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

std::string sealed_file_context(const std::string& backup_id, const std::string& sealed_name) {
  // NUL separates the parts: neither a backup id nor a file name can hold one.
  return std::string("firedrill backup file v2") + '\0' + backup_id + '\0' + sealed_name;
}

void encrypt_file(const std::filesystem::path& plain, const std::filesystem::path& sealed, const EncryptionKey& key,
                  const std::string& associated) {
  std::array<unsigned char, nonce_size> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) throw ActionFailed("cannot generate a nonce");
  CipherContext cipher(EVP_CIPHER_CTX_new());
  int associated_written = 0;
  if (!cipher || EVP_EncryptInit_ex(cipher.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(cipher.get(), nullptr, &associated_written,
                        reinterpret_cast<const unsigned char*>(associated.data()), static_cast<int>(associated.size())) != 1)
    throw ActionFailed("cannot initialise AES-256-GCM");
  auto in = open_input(plain);
  auto out = open_output(sealed);
  out.write(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  std::vector<char> buffer(chunk_size);
  std::vector<unsigned char> encrypted(chunk_size + 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<int>(in.gcount());
    if (got == 0) break;
    int written = 0;
    if (EVP_EncryptUpdate(cipher.get(), encrypted.data(), &written, reinterpret_cast<unsigned char*>(buffer.data()), got) != 1)
      throw ActionFailed(fmt::format("encrypting {} failed", plain.string()));
    out.write(reinterpret_cast<const char*>(encrypted.data()), written);
  }
  int written = 0;
  std::array<unsigned char, tag_size> tag{};
  if (EVP_EncryptFinal_ex(cipher.get(), encrypted.data(), &written) != 1 ||
      EVP_CIPHER_CTX_ctrl(cipher.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()), tag.data()) != 1)
    throw ActionFailed(fmt::format("encrypting {} failed", plain.string()));
  out.write(reinterpret_cast<const char*>(encrypted.data()), written);
  out.write(reinterpret_cast<const char*>(tag.data()), tag.size());
  out.close();
  if (!out) throw ActionFailed(fmt::format("cannot write {}", sealed.string()));
}

void decrypt_file(const std::filesystem::path& sealed, const std::filesystem::path& plain, const EncryptionKey& key,
                  const std::string& associated) {
  const auto size = std::filesystem::file_size(sealed);
  if (size < nonce_size + tag_size)
    throw ActionFailed(fmt::format("{}: {} bytes is too short for an AES-256-GCM file (truncated)",
                                   sealed.filename().string(), size));
  auto in = open_input(sealed);
  std::array<unsigned char, nonce_size> nonce{};
  in.read(reinterpret_cast<char*>(nonce.data()), nonce.size());
  CipherContext cipher(EVP_CIPHER_CTX_new());
  int associated_read = 0;
  if (!cipher || EVP_DecryptInit_ex(cipher.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce.data()) != 1 ||
      EVP_DecryptUpdate(cipher.get(), nullptr, &associated_read,
                        reinterpret_cast<const unsigned char*>(associated.data()), static_cast<int>(associated.size())) != 1)
    throw ActionFailed("cannot initialise AES-256-GCM");
  auto out = open_output(plain);
  const auto fail = [&](const std::string& why) {
    out.close();
    std::error_code ignored;
    std::filesystem::remove(plain, ignored);
    return ActionFailed(fmt::format("{}: {}", sealed.filename().string(), why));
  };
  std::uint64_t ciphertext_left = size - nonce_size - tag_size;
  std::vector<char> buffer(chunk_size);
  std::vector<unsigned char> decrypted(chunk_size + 16);
  while (ciphertext_left > 0) {
    const auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(buffer.size(), ciphertext_left));
    in.read(buffer.data(), want);
    if (in.gcount() != want) throw fail("the file ended early");
    int written = 0;
    if (EVP_DecryptUpdate(cipher.get(), decrypted.data(), &written, reinterpret_cast<unsigned char*>(buffer.data()),
                          static_cast<int>(want)) != 1)
      throw fail("decryption failed");
    out.write(reinterpret_cast<const char*>(decrypted.data()), written);
    ciphertext_left -= static_cast<std::uint64_t>(want);
  }
  std::array<unsigned char, tag_size> tag{};
  in.read(reinterpret_cast<char*>(tag.data()), tag.size());
  int written = 0;
  if (EVP_CIPHER_CTX_ctrl(cipher.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()), tag.data()) != 1 ||
      EVP_DecryptFinal_ex(cipher.get(), decrypted.data(), &written) != 1)
    throw fail("AES-256-GCM authentication failed (GCM tag mismatch: wrong key, altered ciphertext, or a file of "
               "another name or backup)");
  out.close();
  if (!out) throw fail("cannot write the decrypted file");
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

namespace {

/// Whether a relative path from the manifest could leave the folder it is relative to.
bool escapes(const std::filesystem::path& relative) {
  if (relative.empty() || relative.is_absolute()) return true;
  return std::any_of(relative.begin(), relative.end(), [](const auto& part) { return part == ".." || part == "."; });
}

}  // namespace

std::filesystem::path backup_files_folder(const std::filesystem::path& folder, const nlohmann::json& manifest) {
  if (!manifest.contains("files_root")) return folder;
  const std::string root = manifest["files_root"].is_string() ? manifest["files_root"].get<std::string>() : "";
  if (escapes(root))
    throw ActionFailed(fmt::format("backup {}: the manifest names an invalid files_root '{}'", folder.filename().string(), root));
  return folder.parent_path() / root;
}

namespace {

nlohmann::json read_manifest(const std::filesystem::path& folder) {
  std::ifstream in(folder / "manifest.json");
  const auto manifest = nlohmann::json::parse(in, nullptr, false);
  if (!manifest.is_object() || !manifest.contains("files") || !manifest["files"].is_array())
    throw ActionFailed(fmt::format("{}: manifest.json is not a backup manifest", folder.filename().string()));
  return manifest;
}

/// Every file of the manifest is there with its size and digest; throws naming the first that is not.
void check_files(const std::filesystem::path& folder, const nlohmann::json& manifest) {
  const std::string backup_id = folder.filename().string();
  const auto root = backup_files_folder(folder, manifest);
  // Names are plain file names in the backup's folder, or paths below files_root.
  const bool nested = manifest.contains("files_root");
  for (const auto& file : manifest["files"]) {
    const std::string name = file.value("name", "");
    const auto path = root / name;
    if (name.empty() || (!nested && name.find('/') != std::string::npos) || escapes(name))
      throw ActionFailed(fmt::format("backup {}: the manifest names an invalid file '{}'", backup_id, name));
    if (!std::filesystem::is_regular_file(path))
      throw ActionFailed(fmt::format("backup {}: file {} is missing", backup_id, name));
    const auto bytes = std::filesystem::file_size(path);
    const auto expected_bytes = file.value("bytes", std::uint64_t{0});
    if (bytes != expected_bytes)
      throw ActionFailed(fmt::format("backup {}: file {} has {} bytes, the manifest says {}{}", backup_id, name, bytes,
                                     expected_bytes, bytes < expected_bytes ? " (truncated)" : ""));
    const std::string digest = sha256_file(path);
    if (digest != file.value("sha256", ""))
      throw ActionFailed(fmt::format("backup {}: file {}: sha256 mismatch (manifest {}, file {})", backup_id, name,
                                     file.value("sha256", ""), digest));
  }
}

}  // namespace

StagedBackup::StagedBackup(const std::filesystem::path& folder, const std::string& key_file,
                           const std::filesystem::path& manifest_key_file, const Clock& clock, nlohmann::json& phases,
                           const JournalCreate& journal)
    : manifest_(read_manifest(folder)) {
  const std::string backup_id = folder.filename().string();
  // Nothing of the manifest is used before it is authenticated, not even how it says it is encrypted.
  std::optional<EncryptionKey> key;
  if (!key_file.empty()) key = EncryptionKey::load(key_file);
  if (manifest_.contains("encryption")) {
    if (!key)
      throw ActionFailed(fmt::format("backup {} is encrypted (key id {}): give its key file as encrypt_key", backup_id,
                                     manifest_.value("key_id", "?")));
    if (key->id != manifest_.value("key_id", ""))
      throw ActionFailed(fmt::format("backup {} was encrypted with key id {}, not with the key in {} (key id {})", backup_id,
                                     manifest_.value("key_id", "?"), key_file, key->id));
    authenticate_manifest(manifest_, ManifestKey::derived_from(*key), backup_id);
  } else {
    authenticate_manifest(manifest_, ManifestKey::of_machine(manifest_key_file, false), backup_id);
  }
  Micros phase_start = clock.now();
  check_files(folder, manifest_);
  phases["checksum_seconds"] = seconds_between(phase_start, clock.now());
  if (manifest_["files"].empty()) throw ActionFailed(fmt::format("backup {}: the manifest lists no files", backup_id));
  if (!manifest_.contains("encryption")) {
    for (const auto& file : manifest_["files"]) files_[file.value("name", "")] = backup_files_folder(folder, manifest_) / file.value("name", "");
    return;
  }
  if (manifest_.value("encryption", "") != aes_256_gcm)
    throw ActionFailed(fmt::format("backup {}: unknown encryption {}", backup_id, manifest_["encryption"].dump()));
  phase_start = clock.now();
  // mkdtemp makes a new directory, mode 0700, under a name nobody could predict or prepare; a
  // fixed or guessable name could already be another user's directory or hold their symlinks.
  std::string pattern = (std::filesystem::temp_directory_path() / "fd-staging-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw ActionFailed(fmt::format("backup {}: cannot create a staging directory in {}: {}", backup_id,
                                   std::filesystem::temp_directory_path().string(), std::strerror(errno)));
  staging_ = pattern;
  // Journalled as soon as its name exists, before any plaintext is in it.
  if (journal) {
    try {
      journal(staging_kind, staging_.string());
    } catch (...) {
      std::error_code ignored;
      std::filesystem::remove(staging_, ignored);
      throw;
    }
  }
  try {
    for (const auto& file : manifest_["files"]) {
      const std::string name = file.value("name", "");
      if (!is_single_path_component(name))
        throw ActionFailed(fmt::format("backup {}: the manifest lists {}, which is not a file name", backup_id,
                                       file.value("name", nlohmann::json()).dump()));
      const std::string plain = name.ends_with(".enc") ? name.substr(0, name.size() - 4) : name;
      decrypt_file(folder / name, staging_ / plain, *key, sealed_file_context(backup_id, name));
      files_[plain] = staging_ / plain;
    }
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(staging_, ignored);
    throw;
  }
  phases["decrypt_seconds"] = seconds_between(phase_start, clock.now());
}

StagedBackup::~StagedBackup() {
  if (staging_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(staging_, ignored);
}

std::string file_sha256(const std::filesystem::path& file) { return sha256_file(file); }

std::string rfc3339(Micros t) { return format_rfc3339_micros(t); }

PostgresLogin postgres_login(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string reason = error != nullptr ? error : "unparsable";
    PQfreemem(error);
    throw ActionFailed("the service's connection settings cannot be read: " + reason);
  }
  PostgresLogin login;
  for (auto* option = options; option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    if (std::string(option->keyword) == "user") login.user = option->val;
    if (std::string(option->keyword) == "dbname") login.database = option->val;
  }
  PQconninfoFree(options);
  if (login.user.empty()) login.user = "postgres";
  if (login.database.empty()) login.database = login.user;
  return login;
}

std::string exec_checked(Runtime& runtime, const std::string& service, const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout, const std::string& what) {
  const ExecResult result = runtime.exec(service, argv, timeout);
  if (result.exit_code != 0)
    throw ActionFailed(fmt::format("{} failed in '{}' (exit {}): {}", what, service, result.exit_code,
                                   tail_lines(result.output, 5)));
  return result.output;
}

nlohmann::json postgres_row_counts(Runtime& runtime, const std::string& service, const std::string& user,
                                   const std::string& database, std::chrono::milliseconds timeout) {
  const std::string output =
      exec_checked(runtime, service, {"psql", "-U", user, "-d", database, "-At", "-F", "\t", "-c", postgres_row_count_query},
                   timeout, "counting rows");
  nlohmann::json counts = nlohmann::json::object();
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    counts[line.substr(0, tab)] = std::stoll(line.substr(tab + 1));
  }
  return counts;
}

std::vector<std::string> row_count_differences(const nlohmann::json& expected, const nlohmann::json& actual) {
  std::vector<std::string> differences;
  for (const auto& [table, count] : expected.items()) {
    if (!actual.contains(table))
      differences.push_back(fmt::format("{} is missing", table));
    else if (actual[table] != count)
      differences.push_back(fmt::format("{} has {} rows, {} at backup time", table, actual[table].dump(), count.dump()));
  }
  return differences;
}

std::map<std::string, std::string> parse_redis_info(const std::string& reply) {
  std::map<std::string, std::string> fields;
  std::istringstream lines(reply);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    fields[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return fields;
}

std::chrono::milliseconds step_timeout(const StepSpec& step, std::chrono::milliseconds fallback) {
  return step.timeout ? std::chrono::duration_cast<std::chrono::milliseconds>(*step.timeout) : fallback;
}

std::chrono::milliseconds time_left(const Clock& clock, Micros deadline) {
  return std::max(std::chrono::milliseconds(1), std::chrono::milliseconds((deadline - clock.now()) / 1000));
}

std::string without_trailing_newlines(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace firedrill
