#include "reports/attestation/dsse.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>

#include <gtest/gtest.h>

namespace firedrill::attestation {
namespace {

TEST(Pae, MatchesTheDsseSpecExample) {
  EXPECT_EQ(pae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  EXPECT_EQ(pae("", ""), "DSSEv1 0  0 ");
  EXPECT_EQ(pae("t", std::string("a\0b", 3)), std::string("DSSEv1 1 t 3 a\0b", 16));
}

TEST(Base64, EncodesStandardPadded) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(Base64, DecodesStandardAndUrlSafeWithOrWithoutPadding) {
  EXPECT_EQ(base64_decode("+/8="), "\xfb\xff");
  EXPECT_EQ(base64_decode("+/8"), "\xfb\xff");
  EXPECT_EQ(base64_decode("-_8="), "\xfb\xff");
  EXPECT_EQ(base64_decode("-_8"), "\xfb\xff");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zg"), "f");
  EXPECT_EQ(base64_decode(""), "");
}

TEST(Base64, RejectsMalformedText) {
  EXPECT_EQ(base64_decode("Zg="), std::nullopt);
  EXPECT_EQ(base64_decode("Z"), std::nullopt);
  EXPECT_EQ(base64_decode("Zm9v!"), std::nullopt);
  EXPECT_EQ(base64_decode("Zm 9v"), std::nullopt);
  EXPECT_EQ(base64_decode("Zh=="), std::nullopt);
  EXPECT_EQ(base64_decode("Zg==="), std::nullopt);
}

/// A raw r||s P-256 signature in DER, the one encoding firedrill accepts.
std::string der_of_raw_ecdsa(const std::string& raw) {
  ECDSA_SIG* signature = ECDSA_SIG_new();
  ECDSA_SIG_set0(signature, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(signature, &der);
  std::string bytes(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  ECDSA_SIG_free(signature);
  return bytes;
}

// The published DSSE test vector (protocol.md): ECDSA P-256, signed raw r||s. Security review 2,
// L3: accepting both raw and DER gave every signature two valid forms; DER (what Sigstore,
// cosign, OpenSSL and Python's cryptography write) is the one accepted, so the vector verifies
// once re-encoded and is refused as published.
TEST(Dsse, VerifiesThePublishedTestVectorInDerAndRefusesItsRawForm) {
  auto coordinate = [](const char* decimal) {
    BIGNUM* number = nullptr;
    BN_dec2bn(&number, decimal);
    std::string bytes(32, '\0');
    BN_bn2binpad(number, reinterpret_cast<unsigned char*>(bytes.data()), 32);
    BN_free(number);
    return bytes;
  };
  std::string spki =
      std::string("\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00\x04",
                  27) +
      coordinate("46950820868899156662930047687818585632848591499744589407958293238635476079160") +
      coordinate("5640078356564379163099075877009565129882514886557779369047442380624545832820");
  auto key = PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\n" + base64_encode(spki) + "\n-----END PUBLIC KEY-----\n",
                                 "dsse test vector");
  auto envelope = envelope_from_json(nlohmann::json::parse(R"({"payload": "aGVsbG8gd29ybGQ=",
    "payloadType": "http://example.com/HelloWorld",
    "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]})"));
  const auto raw = base64_decode(envelope.signatures[0].sig);
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->size(), 64u);
  EXPECT_FALSE(verify_signatures(envelope, key).verified) << "a raw r||s signature was accepted";
  envelope.signatures[0].sig = base64_encode(der_of_raw_ecdsa(*raw));
  auto check = verify_signatures(envelope, key);
  EXPECT_TRUE(check.verified) << check.reason;
  EXPECT_EQ(check.payload, "hello world");
  envelope.payload = base64_encode("hello world!");
  EXPECT_FALSE(verify_signatures(envelope, key).verified);
}

class DsseRoundTrip : public ::testing::TestWithParam<KeyAlgorithm> {};

TEST_P(DsseRoundTrip, SignedEnvelopeVerifiesAndEveryTamperFails) {
  auto key = SigningKey::generate(GetParam());
  auto envelope = sign_envelope("application/vnd.in-toto+json", R"({"a":1})", key);
  EXPECT_EQ(envelope.signatures.at(0).keyid, key.key_id());
  auto check = verify_signatures(envelope, key.public_key());
  ASSERT_TRUE(check.verified) << check.reason;
  EXPECT_EQ(check.payload, R"({"a":1})");

  auto tampered_payload = envelope;
  tampered_payload.payload = base64_encode(R"({"a":2})");
  auto failed = verify_signatures(tampered_payload, key.public_key());
  EXPECT_FALSE(failed.verified);
  EXPECT_EQ(failed.reason.rfind("bad signature", 0), 0u) << failed.reason;

  auto tampered_type = envelope;
  tampered_type.payload_type = "application/json";
  EXPECT_FALSE(verify_signatures(tampered_type, key.public_key()).verified);

  auto tampered_sig = envelope;
  auto sig = *base64_decode(tampered_sig.signatures[0].sig);
  sig[sig.size() / 2] = static_cast<char>(sig[sig.size() / 2] ^ 1);
  tampered_sig.signatures[0].sig = base64_encode(sig);
  EXPECT_FALSE(verify_signatures(tampered_sig, key.public_key()).verified);

  auto undecodable = envelope;
  undecodable.payload = "%%%";
  EXPECT_EQ(verify_signatures(undecodable, key.public_key()).reason, "payload is not valid base64");

  auto unsigned_envelope = envelope;
  unsigned_envelope.signatures.clear();
  EXPECT_EQ(verify_signatures(unsigned_envelope, key.public_key()).reason, "the envelope has no signatures");

  auto other = SigningKey::generate(GetParam());
  auto wrong_key = verify_signatures(envelope, other.public_key());
  EXPECT_FALSE(wrong_key.verified);
  EXPECT_EQ(wrong_key.reason.rfind("wrong key", 0), 0u) << wrong_key.reason;
}

TEST_P(DsseRoundTrip, AcceptsUrlSafeUnpaddedBase64) {
  auto key = SigningKey::generate(GetParam());
  std::string payload(200, '\xfb');
  auto envelope = sign_envelope("t", payload, key);
  auto url_safe = [](std::string text) {
    for (auto& c : text) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!text.empty() && text.back() == '=') text.pop_back();
    return text;
  };
  auto converted = envelope;
  converted.payload = url_safe(envelope.payload);
  converted.signatures[0].sig = url_safe(envelope.signatures[0].sig);
  ASSERT_NE(converted.payload, envelope.payload);
  auto check = verify_signatures(converted, key.public_key());
  EXPECT_TRUE(check.verified) << check.reason;
  EXPECT_EQ(check.payload, payload);
}

TEST_P(DsseRoundTrip, KeyidIsOnlyAHint) {
  auto key = SigningKey::generate(GetParam());
  auto envelope = sign_envelope("t", "body", key);
  auto wrong_hint = envelope;
  wrong_hint.signatures[0].keyid = std::string(64, '0');
  EXPECT_TRUE(verify_signatures(wrong_hint, key.public_key()).verified);

  auto impostor = SigningKey::generate(GetParam());
  auto forged = sign_envelope("t", "body", impostor);
  forged.signatures[0].keyid = key.key_id();
  EXPECT_FALSE(verify_signatures(forged, key.public_key()).verified);

  // A bad signature first, the good one second: every signature is tried.
  auto both = envelope;
  both.signatures.insert(both.signatures.begin(), forged.signatures[0]);
  EXPECT_TRUE(verify_signatures(both, key.public_key()).verified);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, DsseRoundTrip,
                         ::testing::Values(KeyAlgorithm::ed25519, KeyAlgorithm::ecdsa_p256),
                         [](const auto& instance) { return instance.param == KeyAlgorithm::ed25519 ? "ed25519" : "p256"; });

TEST(Envelope, JsonRoundTripAndStructuralErrors) {
  auto key = SigningKey::generate(KeyAlgorithm::ed25519);
  auto envelope = sign_envelope("t", "body", key);
  auto json = to_json(envelope);
  EXPECT_EQ(json["payloadType"], "t");
  EXPECT_EQ(json["signatures"][0]["keyid"], key.key_id());
  auto parsed = envelope_from_json(json);
  EXPECT_EQ(parsed.payload, envelope.payload);
  EXPECT_EQ(parsed.signatures.at(0).sig, envelope.signatures.at(0).sig);
  EXPECT_THROW(envelope_from_json(nlohmann::json::array()), EnvelopeError);
  EXPECT_THROW(envelope_from_json({{"payload", "x"}, {"signatures", nlohmann::json::array()}}), EnvelopeError);
  EXPECT_THROW(envelope_from_json({{"payloadType", "t"}, {"payload", 1}, {"signatures", nlohmann::json::array()}}),
               EnvelopeError);
  EXPECT_THROW(envelope_from_json({{"payloadType", "t"}, {"payload", "x"}, {"signatures", {{{"keyid", "k"}}}}}),
               EnvelopeError);
}

}  // namespace
}  // namespace firedrill::attestation
