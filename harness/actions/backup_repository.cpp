#include "harness/actions/backup_repository.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
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
#include "harness/runtime/cleanup.hpp"
#include "harness/scenario/host_paths.hpp"
#include "harness/services/service.hpp"
#include "injectors/confined_file.hpp"
#include "reports/artifacts.hpp"

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
                                  const std::string& service) {
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
  if (newest.empty())
    throw ActionFailed(fmt::format("no backup of '{}' in {}", service, repository.string()));
  return newest;
}

EncryptionKey EncryptionKey::load(const std::filesystem::path& key_file) {
  struct stat status {};
  if (::stat(key_file.c_str(), &status) != 0)
    throw ActionFailed(fmt::format("encryption key file {} cannot be read", key_file.string()));
  if ((status.st_mode & 077) != 0)
    throw ActionFailed(fmt::format(
        "encryption key file {} has mode {:04o}: it must be readable by its owner only (chmod 600 {})",
        key_file.string(), status.st_mode & 07777, key_file.string()));
  std::ifstream in(key_file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
    for (std::size_t i = 0; i < 64; i += 2)
      key.bytes.push_back(static_cast<unsigned char>(std::stoi(text.substr(i, 2), nullptr, 16)));
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(key.bytes.data(), key.bytes.size(), digest);
  key.id = hex(digest, 8);
  return key;
}

void encrypt_file(const std::filesystem::path& plain, const std::filesystem::path& sealed, const EncryptionKey& key) {
  std::array<unsigned char, nonce_size> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) throw ActionFailed("cannot generate a nonce");
  CipherContext cipher(EVP_CIPHER_CTX_new());
  if (!cipher || EVP_EncryptInit_ex(cipher.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce.data()) != 1)
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

void decrypt_file(const std::filesystem::path& sealed, const std::filesystem::path& plain, const EncryptionKey& key) {
  const auto size = std::filesystem::file_size(sealed);
  if (size < nonce_size + tag_size)
    throw ActionFailed(fmt::format("{}: {} bytes is too short for an AES-256-GCM file (truncated)",
                                   sealed.filename().string(), size));
  auto in = open_input(sealed);
  std::array<unsigned char, nonce_size> nonce{};
  in.read(reinterpret_cast<char*>(nonce.data()), nonce.size());
  CipherContext cipher(EVP_CIPHER_CTX_new());
  if (!cipher || EVP_DecryptInit_ex(cipher.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce.data()) != 1)
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
    throw fail("AES-256-GCM authentication failed (GCM tag mismatch: wrong key or altered ciphertext)");
  out.close();
  if (!out) throw fail("cannot write the decrypted file");
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

StagedBackup::StagedBackup(const std::filesystem::path& folder, const std::string& key_file, const Clock& clock,
                           nlohmann::json& phases, const JournalCreate& journal)
    : manifest_(read_manifest(folder)) {
  const std::string backup_id = folder.filename().string();
  Micros phase_start = clock.now();
  check_files(folder, manifest_);
  phases["checksum_seconds"] = seconds_between_micros(phase_start, clock.now());
  if (manifest_["files"].empty()) throw ActionFailed(fmt::format("backup {}: the manifest lists no files", backup_id));
  if (!manifest_.contains("encryption")) {
    for (const auto& file : manifest_["files"]) files_[file.value("name", "")] = backup_files_folder(folder, manifest_) / file.value("name", "");
    return;
  }
  if (manifest_.value("encryption", "") != aes_256_gcm)
    throw ActionFailed(fmt::format("backup {}: unknown encryption {}", backup_id, manifest_["encryption"].dump()));
  if (key_file.empty())
    throw ActionFailed(fmt::format("backup {} is encrypted (key id {}): give its key file as encrypt_key", backup_id,
                                   manifest_.value("key_id", "?")));
  const EncryptionKey key = EncryptionKey::load(key_file);
  if (key.id != manifest_.value("key_id", ""))
    throw ActionFailed(fmt::format("backup {} was encrypted with key id {}, not with the key in {} (key id {})", backup_id,
                                   manifest_.value("key_id", "?"), key_file, key.id));
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
      decrypt_file(folder / name, staging_ / plain, key);
      files_[plain] = staging_ / plain;
    }
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(staging_, ignored);
    throw;
  }
  phases["decrypt_seconds"] = seconds_between_micros(phase_start, clock.now());
}

StagedBackup::~StagedBackup() {
  if (staging_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(staging_, ignored);
}

std::string file_sha256(const std::filesystem::path& file) { return sha256_file(file); }

std::string rfc3339(Micros t) { return format_rfc3339_micros(t); }

double seconds_between_micros(Micros from, Micros to) { return static_cast<double>(to - from) / 1e6; }

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
