#include "reports/attestation/dsse.hpp"

#include <array>

#include <fmt/format.h>

namespace firedrill::attestation {
namespace {

constexpr std::string_view standard_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

}  // namespace

std::string pae(std::string_view payload_type, std::string_view body) {
  return fmt::format("DSSEv1 {} {} {} ", payload_type.size(), payload_type, body.size()).append(body);
}

std::string base64_encode(std::string_view bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    auto block = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16 |
                 static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                 static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 2]));
    for (int shift : {18, 12, 6, 0}) text += standard_alphabet[(block >> shift) & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    unsigned block = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) block |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    text += standard_alphabet[(block >> 18) & 63];
    text += standard_alphabet[(block >> 12) & 63];
    text += rest == 2 ? standard_alphabet[(block >> 6) & 63] : '=';
    text += '=';
  }
  return text;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::size_t padding = 0;
  while (!text.empty() && text.back() == '=' && padding < 2) {
    text.remove_suffix(1);
    ++padding;
  }
  // Padding, when present, must complete the last quantum exactly.
  if (padding > 0 && (text.size() + padding) % 4 != 0) return std::nullopt;
  if (text.size() % 4 == 1) return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = sextet(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero, so each byte string has exactly one encoding per alphabet.
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return bytes;
}

nlohmann::json to_json(const Envelope& envelope) {
  nlohmann::json signatures = nlohmann::json::array();
  for (const auto& signature : envelope.signatures)
    signatures.push_back({{"keyid", signature.keyid}, {"sig", signature.sig}});
  return {{"payloadType", envelope.payload_type}, {"payload", envelope.payload}, {"signatures", signatures}};
}

Envelope envelope_from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw EnvelopeError("not a DSSE envelope: expected a JSON object");
  auto text_field = [&](const nlohmann::json& object, const char* name, const char* where) {
    auto field = object.find(name);
    if (field == object.end() || !field->is_string())
      throw EnvelopeError(fmt::format("not a DSSE envelope: {}\"{}\" must be a string", where, name));
    return field->get<std::string>();
  };
  Envelope envelope;
  envelope.payload_type = text_field(json, "payloadType", "");
  envelope.payload = text_field(json, "payload", "");
  auto signatures = json.find("signatures");
  if (signatures == json.end() || !signatures->is_array())
    throw EnvelopeError("not a DSSE envelope: \"signatures\" must be an array");
  for (const auto& signature : *signatures) {
    if (!signature.is_object()) throw EnvelopeError("not a DSSE envelope: each signature must be an object");
    EnvelopeSignature entry;
    entry.sig = text_field(signature, "sig", "signatures[].");
    auto keyid = signature.find("keyid");
    if (keyid != signature.end() && keyid->is_string()) entry.keyid = keyid->get<std::string>();
    envelope.signatures.push_back(std::move(entry));
  }
  return envelope;
}

Envelope sign_envelope(std::string_view payload_type, std::string_view payload, const SigningKey& key) {
  Envelope envelope;
  envelope.payload_type = std::string(payload_type);
  envelope.payload = base64_encode(payload);
  envelope.signatures.push_back({key.key_id(), base64_encode(key.sign(pae(payload_type, payload)))});
  return envelope;
}

SignatureCheck verify_signatures(const Envelope& envelope, const PublicKey& trusted_key) {
  SignatureCheck check;
  auto payload = base64_decode(envelope.payload);
  if (!payload) {
    check.reason = "payload is not valid base64";
    return check;
  }
  if (envelope.signatures.empty()) {
    check.reason = "the envelope has no signatures";
    return check;
  }
  const auto message = pae(envelope.payload_type, *payload);
  bool every_hint_names_another_key = true;
  for (const auto& signature : envelope.signatures) {
    if (signature.keyid.empty() || signature.keyid == trusted_key.key_id()) every_hint_names_another_key = false;
    auto sig = base64_decode(signature.sig);
    if (sig && trusted_key.verify(message, *sig)) {
      check.verified = true;
      check.payload = std::move(*payload);
      return check;
    }
  }
  check.reason = every_hint_names_another_key
                     ? fmt::format("wrong key: no signature verifies with key {} (signed by key {})",
                                   trusted_key.key_id(), envelope.signatures.front().keyid)
                     : fmt::format("bad signature: no signature verifies with key {} over this payload "
                                   "(payload or signature altered)",
                                   trusted_key.key_id());
  return check;
}

}  // namespace firedrill::attestation
