// Signing and verifying a run's DSSE envelope with Ed25519 and ECDSA P-256 keys, and checking an
// evidence chain of 100 000 entries (`firedrill chain verify`).
#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "reports/artifacts.hpp"
#include "reports/attestation/chain.hpp"
#include "reports/attestation/dsse.hpp"
#include "reports/attestation/keys.hpp"
#include "reports/attestation/statement.hpp"
#include "reports/attestation/test_support.hpp"

namespace firedrill::attestation {
namespace {

namespace fs = std::filesystem;

constexpr const char* payload_type = "application/vnd.in-toto+json";
constexpr std::size_t chain_entries = 100'000;

/// The Statement `firedrill run` signs for a typical calibration run (subjects with digests, the
/// predicate with targets, measurements and environment).
const std::string& typical_statement(const SigningKey& key) {
  static const std::string statement = [&] {
    testing::ScratchDirectory run;
    testing::write_run_directory(run.path());
    return run_statement(run.path(), key.key_id()).dump();
  }();
  return statement;
}

const SigningKey& key_of(KeyAlgorithm algorithm) {
  static const SigningKey ed25519 = SigningKey::generate(KeyAlgorithm::ed25519);
  static const SigningKey p256 = SigningKey::generate(KeyAlgorithm::ecdsa_p256);
  return algorithm == KeyAlgorithm::ed25519 ? ed25519 : p256;
}

void sign_statement(benchmark::State& state, KeyAlgorithm algorithm) {
  const SigningKey& key = key_of(algorithm);
  const std::string& statement = typical_statement(key);
  for (auto _ : state) benchmark::DoNotOptimize(sign_envelope(payload_type, statement, key));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["statement_bytes"] = static_cast<double>(statement.size());
}

void verify_envelope(benchmark::State& state, KeyAlgorithm algorithm) {
  const SigningKey& key = key_of(algorithm);
  const Envelope envelope = sign_envelope(payload_type, typical_statement(key), key);
  const PublicKey public_key = key.public_key();
  for (auto _ : state) {
    auto check = verify_signatures(envelope, public_key);
    if (!check.verified) state.SkipWithError(check.reason.c_str());
    benchmark::DoNotOptimize(check);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

BENCHMARK_CAPTURE(sign_statement, ed25519, KeyAlgorithm::ed25519)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(sign_statement, p256, KeyAlgorithm::ecdsa_p256)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(verify_envelope, ed25519, KeyAlgorithm::ed25519)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(verify_envelope, p256, KeyAlgorithm::ecdsa_p256)->Unit(benchmark::kMicrosecond);

/// A runs directory holding 100 000 signed runs' attestations and their chain, built once: one
/// real Ed25519 envelope written into every run directory, the chain written in one pass with
/// the entries append_to_chain would make (appending 100 000 times re-reads the chain each time).
class LongChain : public benchmark::Fixture {
 public:
  void SetUp(const benchmark::State&) override {
    if (directory_) return;
    directory_ = std::make_unique<testing::ScratchDirectory>();
    const fs::path& runs = directory_->path();
    const SigningKey& key = key_of(KeyAlgorithm::ed25519);
    const std::string envelope = to_json(sign_envelope(payload_type, typical_statement(key), key)).dump(2);
    const std::string digest = sha256_hex(envelope);
    std::string previous(64, '0');
    std::ofstream chain(runs / "chain.jsonl", std::ios::binary | std::ios::trunc);
    for (std::size_t seq = 1; seq <= chain_entries; ++seq) {
      const std::string run_id = fmt::format("20261125-{:06}-{:04x}", seq % 1'000'000, seq & 0xffff);
      fs::create_directory(runs / run_id);
      testing::write_file(runs / run_id / "attestation.dsse.json", envelope);
      nlohmann::json entry = {{"seq", seq},
                              {"run_id", run_id},
                              {"attestation", run_id + "/attestation.dsse.json"},
                              {"attestation_sha256", digest},
                              {"prev", previous}};
      previous = sha256_hex(entry.dump());
      entry["hash"] = previous;
      chain << entry.dump() << "\n";
    }
  }
  void TearDown(const benchmark::State&) override {}

  static std::unique_ptr<testing::ScratchDirectory> directory_;
};
std::unique_ptr<testing::ScratchDirectory> LongChain::directory_;

BENCHMARK_DEFINE_F(LongChain, verify_100k)(benchmark::State& state) {
  for (auto _ : state) {
    auto check = verify_chain(directory_->path());
    if (!check.valid || check.entries != chain_entries) state.SkipWithError(check.reason.c_str());
    benchmark::DoNotOptimize(check);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * chain_entries));
}
BENCHMARK_REGISTER_F(LongChain, verify_100k)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
}  // namespace firedrill::attestation

BENCHMARK_MAIN();
