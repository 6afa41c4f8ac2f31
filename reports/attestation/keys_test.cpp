#include "reports/attestation/keys.hpp"

#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include "reports/attestation/test_support.hpp"

namespace firedrill::attestation {
namespace {

using testing::ScratchDirectory;
using testing::read_file;
using testing::write_file;

mode_t file_mode(const std::filesystem::path& file) {
  struct stat info {};
  EXPECT_EQ(::stat(file.c_str(), &info), 0);
  return info.st_mode & 07777;
}

TEST(Keygen, WritesPrivateKey0600AndPublicKey0644EvenUnderAPermissiveUmask) {
  ScratchDirectory dir;
  mode_t previous = ::umask(0);
  auto files = keygen((dir.path() / "signer").string());
  ::umask(previous);
  EXPECT_EQ(file_mode(files.private_key), 0600u);
  EXPECT_EQ(file_mode(files.public_key), 0644u);
  EXPECT_NE(read_file(files.private_key).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  EXPECT_NE(read_file(files.public_key).find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
  auto key = SigningKey::load(files.private_key);
  EXPECT_EQ(key.key_id(), files.key_id);
  EXPECT_EQ(PublicKey::load(files.public_key).key_id(), files.key_id);
  EXPECT_EQ(files.key_id.size(), 64u);
}

TEST(Keygen, RefusesToOverwriteEitherFileAndLeavesThemUntouched) {
  ScratchDirectory dir;
  auto prefix = (dir.path() / "signer").string();
  write_file(prefix + ".pub", "precious");
  EXPECT_THROW(keygen(prefix), KeyError);
  EXPECT_EQ(read_file(prefix + ".pub"), "precious");
  EXPECT_FALSE(std::filesystem::exists(prefix + ".key"));
  std::filesystem::remove(prefix + ".pub");
  keygen(prefix);
  auto original = read_file(prefix + ".key");
  try {
    keygen(prefix);
    FAIL() << "overwrote an existing key";
  } catch (const KeyError& error) {
    EXPECT_EQ(std::string(error.what()), prefix + ".key: already exists; refusing to overwrite");
  }
  EXPECT_EQ(read_file(prefix + ".key"), original);
}

TEST(Keys, EcdsaP256KeygenAndLoad) {
  ScratchDirectory dir;
  auto files = keygen((dir.path() / "p256").string(), KeyAlgorithm::ecdsa_p256);
  auto key = SigningKey::load(files.private_key);
  EXPECT_EQ(key.algorithm(), KeyAlgorithm::ecdsa_p256);
  EXPECT_EQ(PublicKey::load(files.public_key).algorithm(), KeyAlgorithm::ecdsa_p256);
}

TEST(Keys, KeyIdIsSha256OfTheDerSpkiAndStableAcrossPemRoundTrip) {
  auto key = SigningKey::generate(KeyAlgorithm::ed25519);
  auto reparsed = PublicKey::from_pem(key.public_key().pem(), "pem");
  EXPECT_EQ(reparsed.key_id(), key.key_id());
  EXPECT_NE(SigningKey::generate(KeyAlgorithm::ed25519).key_id(), key.key_id());
}

TEST(Keys, ErrorsNameTheFileAndNeverEchoKeyMaterial) {
  ScratchDirectory dir;
  auto corrupt = dir.path() / "corrupt.key";
  write_file(corrupt, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBADSECRETSECRET\n-----END PRIVATE KEY-----\n");
  std::filesystem::permissions(corrupt, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  try {
    SigningKey::load(corrupt);
    FAIL();
  } catch (const KeyError& error) {
    std::string message = error.what();
    EXPECT_EQ(message.rfind(corrupt.string() + ": corrupt private key", 0), 0u) << message;
    EXPECT_EQ(message.find("SECRET"), std::string::npos);
  }
  auto garbage = dir.path() / "garbage.key";
  write_file(garbage, "hello");
  std::filesystem::permissions(garbage, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_THROW(SigningKey::load(garbage), KeyError);
  EXPECT_THROW(SigningKey::load(dir.path() / "absent.key"), KeyError);
  EXPECT_THROW(PublicKey::load(garbage), KeyError);
  auto encrypted = dir.path() / "encrypted.key";
  write_file(encrypted, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
  std::filesystem::permissions(encrypted, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_THROW(SigningKey::load(encrypted), KeyError);
  auto files = keygen((dir.path() / "k").string());
  EXPECT_THROW(SigningKey::load(files.public_key), KeyError);
  EXPECT_THROW(PublicKey::load(files.private_key), KeyError);
}

// Security review 2, L2: signing keys loaded whatever their mode, unlike backup keys.
TEST(Keys, APrivateKeyOthersCanReadIsRefusedNamingTheFix) {
  ScratchDirectory dir;
  auto files = keygen((dir.path() / "k").string());
  EXPECT_EQ(SigningKey::load(files.private_key).key_id(), files.key_id);
  for (auto mode : {std::filesystem::perms::group_read, std::filesystem::perms::others_read,
                    std::filesystem::perms::group_write}) {
    std::filesystem::permissions(files.private_key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write | mode);
    try {
      SigningKey::load(files.private_key);
      ADD_FAILURE() << "a signing key of mode " << static_cast<int>(mode) << " was accepted";
    } catch (const KeyError& error) {
      EXPECT_NE(std::string(error.what()).find(": a signing key must be readable by its owner only (chmod 600 " +
                                               files.private_key.string() + ")"),
                std::string::npos)
          << error.what();
    }
  }
  std::filesystem::permissions(files.private_key, std::filesystem::perms::owner_read);
  EXPECT_EQ(SigningKey::load(files.private_key).key_id(), files.key_id);
  // A public key is public: its mode is not checked.
  std::filesystem::permissions(files.public_key, std::filesystem::perms::all);
  EXPECT_EQ(PublicKey::load(files.public_key).key_id(), files.key_id);
}

TEST(Keys, RejectsOtherAlgorithms) {
  ScratchDirectory dir;
  auto p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  ASSERT_NE(p384, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, p384);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  EVP_PKEY_free(p384);
  EXPECT_THROW(PublicKey::from_pem(pem, "p384.pub"), KeyError);
}

TEST(Keys, SignaturesVerifyOnlyForTheirMessageAndKey) {
  for (auto algorithm : {KeyAlgorithm::ed25519, KeyAlgorithm::ecdsa_p256}) {
    auto key = SigningKey::generate(algorithm);
    auto signature = key.sign("message");
    EXPECT_TRUE(key.public_key().verify("message", signature)) << algorithm_name(algorithm);
    EXPECT_FALSE(key.public_key().verify("messagf", signature));
    EXPECT_FALSE(SigningKey::generate(algorithm).public_key().verify("message", signature));
  }
}

}  // namespace
}  // namespace firedrill::attestation
