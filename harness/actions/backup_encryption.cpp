// AES-256-GCM encryption of a backup's files (nonce || ciphertext || tag), each bound to its name
// and its set by the associated data, so that no file decrypts in another one's place.
#include "harness/actions/backup_repository.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <memory>

#include <fmt/format.h>

namespace firedrill {
namespace {

constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;
constexpr std::size_t chunk_size = 1 << 20;

struct CipherDeleter {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherDeleter>;

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

}  // namespace firedrill
