// DSSE envelopes and the in-toto Statements inside them. The first byte picks the mode:
//  - even: the rest is an envelope file as `firedrill verify` reads it, checked against the two
//    trusted keys the seed envelopes are signed with (tests/fuzz/keys/), as a run
//    attestation and as a roll-up; a mutation that keeps payload and signature reaches the
//    Statement checks behind the signature.
//  - odd: the rest is a payload, signed here; it must verify as signed, and a flip of any one
//    byte of the payload or signature text must make it fail (unless the flip leaves the
//    decoded bytes the same).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/attestation/dsse.hpp"
#include "reports/attestation/keys.hpp"
#include "reports/attestation/rollup.hpp"
#include "reports/attestation/statement.hpp"

namespace {

using namespace firedrill::attestation;

void check(bool condition) {
  if (!condition) std::abort();
}

const std::vector<PublicKey>& trusted_keys() {
  static const std::vector<PublicKey> keys = [] {
    std::vector<PublicKey> loaded;
    for (const char* name : {"trusted_ed25519.pub", "trusted_p256.pub"})
      loaded.push_back(PublicKey::load(std::string(FIREDRILL_FUZZ_KEYS_DIR) + "/" + name));
    return loaded;
  }();
  return keys;
}

void verify_file(std::string_view text) {
  const auto json = nlohmann::json::parse(text, nullptr, false);
  Envelope envelope;
  try {
    envelope = envelope_from_json(json);
  } catch (const EnvelopeError&) {
    return;
  }
  for (const auto& key : trusted_keys()) {
    const auto check_result = verify_signatures(envelope, key);
    check(check_result.verified != !check_result.reason.empty());
  }
  const auto as_run = verify_statement(envelope, trusted_keys(), drill_predicate_type);
  check(as_run.valid == as_run.reason.empty());
  const auto as_rollup = verify_rollup(envelope, trusted_keys(), std::nullopt, false);
  check(as_rollup.statement.valid == as_rollup.statement.reason.empty());
}

// Whether a one-byte change of base64 text can leave the decoded bytes as they were.
bool same_bytes(const std::string& original, const std::string& flipped) {
  return base64_decode(original) == base64_decode(flipped);
}

void round_trip(std::string_view payload, std::uint8_t which_key) {
  static const SigningKey ed25519 = SigningKey::generate(KeyAlgorithm::ed25519);
  static const SigningKey p256 = SigningKey::generate(KeyAlgorithm::ecdsa_p256);
  const SigningKey& key = which_key % 2 == 0 ? ed25519 : p256;
  const PublicKey public_key = key.public_key();

  const Envelope signed_envelope = sign_envelope(in_toto_payload_type, payload, key);
  const Envelope read = envelope_from_json(nlohmann::json::parse(to_json(signed_envelope).dump()));
  const auto verified = verify_signatures(read, public_key);
  check(verified.verified && verified.payload == payload);

  // The flip's position comes from the payload itself, so the fuzzer can steer it.
  std::size_t position = 0;
  for (const char c : payload) position = position * 31 + static_cast<unsigned char>(c);
  const std::uint8_t mask = static_cast<std::uint8_t>(1u << (which_key / 2 % 8));

  Envelope tampered = read;
  std::string& target = position % 2 == 0 || tampered.signatures[0].sig.empty() ? tampered.payload
                                                                                  : tampered.signatures[0].sig;
  if (target.empty()) return;
  const std::string original = target;
  target[position / 2 % target.size()] = static_cast<char>(target[position / 2 % target.size()] ^ mask);
  if (same_bytes(original, target)) return;
  check(!verify_signatures(tampered, public_key).verified);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    verify_file(rest);
  } else {
    round_trip(rest, static_cast<std::uint8_t>(data[0] / 2));
  }
  return 0;
}
