#pragma once
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"

#include <nlohmann/json.hpp>

namespace firedrill {

/// Replaces known secret values (passwords, tokens) in text bound for logs and reports. Every
/// sink of a run (events, report, step details, logs, errors) passes through one scrubber, so
/// what is added once is masked everywhere. Thread-safe: observers record events while
/// services are still being added.
class SecretScrubber {
 public:
  /// What a secret becomes in scrubbed text.
  static constexpr std::string_view mask = "******";

  /// Every non-empty secret counts, however short: a short password is still a password. Its
  /// percent-encoded form (as it appears in a URL) is masked too.
  void add(const std::string& secret);

  /// One pass from left to right: a mask written is never searched again, so a secret made of
  /// the mask's own characters ("****") cannot make it loop.
  std::string scrub(std::string_view text) const;

  /// `value` with every string in it masked and any invalid UTF-8 replaced (U+FFFD), so it
  /// can be written by any JSON, HTML or XML writer. Keys are never masked, nor the values of
  /// is_structural_key keys: those are firedrill's own words and the scenario's names.
  nlohmann::json scrub_json(const nlohmann::json& value) const;

  bool empty() const;

 private:
  nlohmann::json scrub_json(const nlohmann::json& value, bool structural) const;

  mutable std::mutex mutex_;
  std::vector<std::string> secrets_;  // longest first
};

/// True for the keys of reports and events whose values are firedrill's vocabulary (verdict,
/// outcome, kind, …), the scenario's names or times, never free text that could quote a secret.
bool is_structural_key(std::string_view key);

/// The values of `env` that are secrets: those of names that say so (…PASSWORD, …PASS,
/// …SECRET…, …TOKEN…, …KEY, …CREDENTIALS…) and the password of any URL with one
/// (`redis://:pw@cache`, `postgresql://u:pw@db/x`).
std::vector<std::string> secrets_in_env(const std::map<std::string, std::string>& env);

/// Every secret a loaded scenario names: those in its services' `env:` and the values its
/// writers' templates took from the environment or from a --var into a header.
std::vector<std::string> secrets_of(const Scenario& scenario);

}  // namespace firedrill
