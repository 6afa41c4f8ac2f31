#pragma once
#include <string>
#include <vector>

namespace firedrill {

/// Replaces known secret values (generated passwords) in text bound for logs and reports.
class SecretScrubber {
 public:
  void add(const std::string& secret) {
    if (secret.size() >= 4) secrets_.push_back(secret);
  }
  std::string scrub(std::string text) const {
    for (const auto& secret : secrets_)
      for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at))
        text.replace(at, secret.size(), "******");
    return text;
  }

 private:
  std::vector<std::string> secrets_;
};

}  // namespace firedrill
