#pragma once
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace firedrill {

/// Replaces known secret values (passwords, tokens) in text bound for logs and reports.
class SecretScrubber {
 public:
  /// What a secret becomes in scrubbed text.
  static constexpr std::string_view mask = "******";

  /// Every non-empty secret counts, however short: a short password is still a password.
  void add(const std::string& secret) {
    if (secret.empty() || std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return;
    secrets_.push_back(secret);
    // Longest first, so a secret that contains another is masked whole, not around the shorter one.
    std::stable_sort(secrets_.begin(), secrets_.end(),
                     [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }

  /// One pass from left to right: a mask written is never searched again, so a secret made of
  /// the mask's own characters ("****") cannot make it loop.
  std::string scrub(const std::string& text) const {
    if (secrets_.empty()) return text;
    std::string scrubbed;
    scrubbed.reserve(text.size());
    for (std::size_t at = 0; at < text.size();) {
      const auto found = std::find_if(secrets_.begin(), secrets_.end(),
                                      [&](const std::string& secret) { return text.compare(at, secret.size(), secret) == 0; });
      if (found == secrets_.end()) {
        scrubbed += text[at++];
        continue;
      }
      scrubbed += mask;
      at += found->size();
    }
    return scrubbed;
  }

 private:
  std::vector<std::string> secrets_;
};

}  // namespace firedrill
