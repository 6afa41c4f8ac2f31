// Interoperability with an independent implementation: the openssl command line.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

#include <gtest/gtest.h>

#include "reports/artifacts.hpp"
#include "reports/attestation/statement.hpp"
#include "reports/attestation/test_support.hpp"

namespace firedrill::attestation {
namespace {

using testing::ScratchDirectory;
using testing::read_file;
using testing::write_file;
using testing::write_run_directory;

struct CommandOutput {
  int exit_code = -1;
  std::string output;
};

CommandOutput run_command(const std::string& command) {
  CommandOutput result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Writes the PAE bytes and raw signature of a firedrill envelope for the openssl command line.
void export_for_openssl(const std::filesystem::path& envelope_file, const std::filesystem::path& pae_file,
                        const std::filesystem::path& sig_file) {
  auto json = nlohmann::json::parse(read_file(envelope_file));
  auto payload = *base64_decode(json["payload"].get<std::string>());
  write_file(pae_file, pae(json["payloadType"].get<std::string>(), payload));
  write_file(sig_file, *base64_decode(json["signatures"][0]["sig"].get<std::string>()));
}

TEST(OpensslInterop, OpensslVerifiesFiredrillsEd25519Envelope) {
  ScratchDirectory dir;
  write_run_directory(dir.path());
  auto files = keygen((dir.path() / "signer").string());
  auto envelope = sign_run_directory(dir.path(), SigningKey::load(files.private_key));
  export_for_openssl(envelope, dir.path() / "pae.bin", dir.path() / "sig.bin");
  auto verified = run_command("openssl pkeyutl -verify -rawin -pubin -inkey " + files.public_key.string() + " -in " +
                              (dir.path() / "pae.bin").string() + " -sigfile " + (dir.path() / "sig.bin").string());
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("Signature Verified Successfully"), std::string::npos) << verified.output;

  auto pae_bytes = read_file(dir.path() / "pae.bin");
  pae_bytes.back() = static_cast<char>(pae_bytes.back() ^ 1);
  write_file(dir.path() / "pae.bin", pae_bytes);
  auto rejected = run_command("openssl pkeyutl -verify -rawin -pubin -inkey " + files.public_key.string() + " -in " +
                              (dir.path() / "pae.bin").string() + " -sigfile " + (dir.path() / "sig.bin").string());
  EXPECT_NE(rejected.exit_code, 0) << rejected.output;
}

TEST(OpensslInterop, OpensslVerifiesFiredrillsP256Envelope) {
  ScratchDirectory dir;
  write_run_directory(dir.path());
  auto files = keygen((dir.path() / "signer").string(), KeyAlgorithm::ecdsa_p256);
  auto envelope = sign_run_directory(dir.path(), SigningKey::load(files.private_key));
  export_for_openssl(envelope, dir.path() / "pae.bin", dir.path() / "sig.bin");
  auto verified = run_command("openssl dgst -sha256 -verify " + files.public_key.string() + " -signature " +
                              (dir.path() / "sig.bin").string() + " " + (dir.path() / "pae.bin").string());
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_NE(verified.output.find("Verified OK"), std::string::npos) << verified.output;
}

TEST(OpensslInterop, FiredrillVerifiesAnEnvelopeSignedByOpenssl) {
  ScratchDirectory dir;
  write_run_directory(dir.path());
  auto key_file = dir.path() / "openssl.key", pub_file = dir.path() / "openssl.pub";
  ASSERT_EQ(run_command("openssl genpkey -algorithm ed25519 -out " + key_file.string()).exit_code, 0);
  ASSERT_EQ(run_command("openssl pkey -in " + key_file.string() + " -pubout -out " + pub_file.string()).exit_code, 0);
  auto trusted = PublicKey::load(pub_file);
  auto der_digest = run_command("openssl pkey -pubin -in " + pub_file.string() + " -outform DER | sha256sum");
  EXPECT_EQ(der_digest.output.substr(0, 64), trusted.key_id()) << "key id = SHA-256 of the DER SPKI";
  EXPECT_EQ(SigningKey::load(key_file).key_id(), trusted.key_id());

  auto payload = run_statement(dir.path(), trusted.key_id()).dump();
  write_file(dir.path() / "pae.bin", pae(in_toto_payload_type, payload));
  auto signed_pae = run_command("openssl pkeyutl -sign -rawin -inkey " + key_file.string() + " -in " +
                                (dir.path() / "pae.bin").string() + " -out " + (dir.path() / "sig.bin").string());
  ASSERT_EQ(signed_pae.exit_code, 0) << signed_pae.output;
  nlohmann::json envelope = {
      {"payloadType", in_toto_payload_type},
      {"payload", base64_encode(payload)},
      {"signatures", {{{"keyid", ""}, {"sig", base64_encode(read_file(dir.path() / "sig.bin"))}}}}};
  write_file(dir.path() / "openssl.dsse.json", envelope.dump());
  auto result = verify_envelope(dir.path() / "openssl.dsse.json", trusted, dir.path());
  EXPECT_TRUE(result.valid) << result.reason;
  EXPECT_EQ(result.subjects_checked, 4u);

  auto other = SigningKey::generate(KeyAlgorithm::ed25519);
  EXPECT_FALSE(verify_envelope(dir.path() / "openssl.dsse.json", other.public_key()).valid);
}

}  // namespace
}  // namespace firedrill::attestation
