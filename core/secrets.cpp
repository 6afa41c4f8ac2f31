#include "core/secrets.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/utf8.hpp"

namespace firedrill {
namespace {

std::string percent_encoded(const std::string& text) {
  std::string encoded;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
      encoded += static_cast<char>(c);
    else
      encoded += fmt::format("%{:02X}", c);
  }
  return encoded;
}

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

bool names_a_secret(const std::string& name) {
  const std::string key = upper(name);
  for (const char* word : {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "APIKEY", "API_KEY", "PRIVATE_KEY"})
    if (key.find(word) != std::string::npos) return true;
  return key.ends_with("_PASS") || key == "PASS" || key.ends_with("_KEY") || key == "KEY" || key.ends_with("_PW");
}

/// The password in `scheme://user:password@host…`, percent-decoding left to the caller's
/// encoded form ("" when the text is no such URL).
std::string url_password(const std::string& text) {
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string::npos) return "";
  const auto authority_start = scheme_end + 3;
  const auto authority_end = text.find_first_of("/?#", authority_start);
  const std::string authority = text.substr(authority_start, authority_end == std::string::npos ? std::string::npos
                                                                                                : authority_end - authority_start);
  const auto at = authority.rfind('@');
  if (at == std::string::npos) return "";
  const auto colon = authority.find(':');
  if (colon == std::string::npos || colon > at) return "";
  return authority.substr(colon + 1, at - colon - 1);
}

}  // namespace

bool is_structural_key(std::string_view key) {
  // Verdicts, outcomes, kinds, names and times: a password "pass", "ok" or "postgres" must not
  // turn `"verdict": "pass"` or `"kind": "postgres"` into a mask every reader then misreads.
  static constexpr std::string_view keys[] = {
      "schema", "run_id", "verdict", "outcome", "kind",   "verb",     "type",     "mode",      "status",
      "result", "name",   "service", "target",  "step",   "scenario", "writer",   "component", "fault",
      "action", "method", "runtime", "image",   "sha256", "digest",   "backup",   "t",         "started_at",
      "finished_at", "incident_at", "injected_at", "reverted_at", "firedrill_version", "signal", "what", "client",
      "peer", "upstream", "endpoint", "host", "id", "check", "subject", "checks"};
  return std::find(std::begin(keys), std::end(keys), key) != std::end(keys);
}

void SecretScrubber::add(const std::string& secret) {
  if (secret.empty()) return;
  std::lock_guard lock(mutex_);
  for (const auto& form : {secret, percent_encoded(secret)}) {
    if (std::find(secrets_.begin(), secrets_.end(), form) != secrets_.end()) continue;
    secrets_.push_back(form);
  }
  // Longest first, so a secret that contains another is masked whole, not around the shorter one.
  std::stable_sort(secrets_.begin(), secrets_.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string SecretScrubber::scrub(std::string_view text) const {
  std::lock_guard lock(mutex_);
  if (secrets_.empty()) return std::string(text);
  std::string scrubbed;
  scrubbed.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const auto found = std::find_if(secrets_.begin(), secrets_.end(),
                                    [&](const std::string& secret) { return text.substr(at, secret.size()) == secret; });
    if (found == secrets_.end()) {
      scrubbed += text[at++];
      continue;
    }
    scrubbed += mask;
    at += found->size();
  }
  return scrubbed;
}

nlohmann::json SecretScrubber::scrub_json(const nlohmann::json& value) const { return scrub_json(value, false); }

nlohmann::json SecretScrubber::scrub_json(const nlohmann::json& value, bool structural) const {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    return replace_invalid_utf8(structural ? std::string_view(text) : std::string_view(scrub(text)));
  }
  if (value.is_array()) {
    nlohmann::json scrubbed = nlohmann::json::array();
    for (const auto& element : value) scrubbed.push_back(scrub_json(element, structural));
    return scrubbed;
  }
  if (!value.is_object()) return value;
  nlohmann::json scrubbed = nlohmann::json::object();
  for (const auto& [key, element] : value.items())
    scrubbed[replace_invalid_utf8(key)] = scrub_json(element, is_structural_key(key));
  return scrubbed;
}

bool SecretScrubber::empty() const {
  std::lock_guard lock(mutex_);
  return secrets_.empty();
}

std::vector<std::string> secrets_in_env(const std::map<std::string, std::string>& env) {
  std::vector<std::string> secrets;
  for (const auto& [name, value] : env) {
    if (names_a_secret(name) && !value.empty()) secrets.push_back(value);
    if (auto password = url_password(value); !password.empty()) secrets.push_back(password);
  }
  return secrets;
}

std::vector<std::string> secrets_of(const Scenario& scenario) {
  std::vector<std::string> secrets = scenario.loaded_secrets;
  for (const auto& spec : scenario.services)
    for (auto& secret : secrets_in_env(spec.env)) secrets.push_back(std::move(secret));
  return secrets;
}

}  // namespace firedrill
