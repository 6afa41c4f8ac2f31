#include "reports/artifacts.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill {
namespace {

class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr); }
  void update(const char* data, std::size_t size) { EVP_DigestUpdate(context_.get(), data, size); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(context_.get(), digest, &length);
    std::string text;
    for (unsigned int i = 0; i < length; ++i) text += fmt::format("{:02x}", digest[i]);
    return text;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context_;
};

}  // namespace

std::string sha256_hex(const std::string& bytes) {
  Sha256 hash;
  hash.update(bytes.data(), bytes.size());
  return hash.hex();
}

std::string sha256_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", file.string()));
  Sha256 hash;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) hash.update(buffer, static_cast<std::size_t>(in.gcount()));
  return hash.hex();
}

nlohmann::json artifact_digests(const std::filesystem::path& run_dir, const std::vector<std::string>& names) {
  std::vector<std::string> paths;
  for (const auto& name : names)
    if (std::filesystem::exists(run_dir / name)) paths.push_back(name);
  std::vector<std::string> logs;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir / "logs", error))
    if (entry.is_regular_file()) logs.push_back("logs/" + entry.path().filename().string());
  std::sort(logs.begin(), logs.end());
  paths.insert(paths.end(), logs.begin(), logs.end());
  nlohmann::json digests = nlohmann::json::array();
  for (const auto& path : paths) digests.push_back({{"path", path}, {"sha256", sha256_file(run_dir / path)}});
  return digests;
}

}  // namespace firedrill
