#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "harness/cli/commands.hpp"
#include "reports/attestation/rollup.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

struct AttestOptions {
  std::string period;
  std::string out;
  std::string sign_key;
  bool require_signature = false;
  std::vector<std::string> trusted_keys;
  std::string policy;
  std::string controls;
  std::vector<std::string> runs_dirs;
  std::vector<std::string> reports;
  bool exclude_unverified = false;
};

void write_atomically(const fs::path& file, const std::string& content) {
  auto partial = file;
  partial += ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) throw std::runtime_error(fmt::format("cannot write {}", partial.string()));
  }
  fs::rename(partial, file);
}

int attest_command(const AttestOptions& options) {
  try {
    auto period = attestation::parse_period(options.period);
    std::optional<attestation::SigningKey> signing_key;
    std::string key_path = options.sign_key;
    if (key_path.empty())
      if (const char* from_environment = std::getenv("FIREDRILL_SIGNING_KEY")) key_path = from_environment;
    if (!key_path.empty()) signing_key = attestation::SigningKey::load(key_path);
    else if (options.require_signature)
      throw CLI::ValidationError("--require-signature", "no signing key: pass --sign-key PEM or set FIREDRILL_SIGNING_KEY");

    std::vector<attestation::PublicKey> trusted;
    for (const auto& file : options.trusted_keys) trusted.push_back(attestation::PublicKey::load(file));
    if (trusted.empty() && signing_key) trusted.push_back(signing_key->public_key());
    if (trusted.empty())
      throw CLI::ValidationError("--key", "no trusted key to verify the runs with: pass --key PUB (or --sign-key)");

    std::vector<fs::path> dirs(options.runs_dirs.begin(), options.runs_dirs.end());
    dirs.insert(dirs.end(), options.reports.begin(), options.reports.end());
    if (dirs.empty()) throw CLI::ValidationError("DIR", "name at least one runs directory (a run's --out)");

    auto collection = attestation::collect_runs(dirs, period, trusted);
    // Evidence that does not verify makes the roll-up a question, not an attestation: refused,
    // naming what failed, unless the user asks for a roll-up that lists it as excluded.
    std::vector<std::string> unverified;
    for (const auto& run : collection.excluded)
      unverified.push_back(fmt::format("{}: {}{}", run.attestation, run.reason, run.period_known ? "" : " (period unknown)"));
    for (const auto& chain : collection.chains)
      if (!chain.valid) unverified.push_back(fmt::format("chain {}: {}", chain.directory, chain.reason));
    if (!unverified.empty() && !options.exclude_unverified) {
      std::cout << fmt::format("firedrill attest: {} item(s) of the period failed verification; no roll-up written "
                               "(--exclude-unverified writes one that lists them as excluded):\n",
                               unverified.size());
      for (const auto& line : unverified) std::cout << "  " << line << "\n";
      return exit_code::failed;
    }
    attestation::RollupInputs inputs;
    inputs.period = period;
    if (!options.policy.empty()) inputs.policy_file = options.policy;
    if (!options.controls.empty()) inputs.controls_file = options.controls;
    for (const auto& key : trusted) inputs.trusted_key_ids.push_back(key.key_id());
    if (signing_key) inputs.signer_key_id = signing_key->key_id();
    inputs.generated_at = format_rfc3339_micros(real_clock().now());
    inputs.firedrill_version = FIREDRILL_VERSION;
    auto statement = attestation::rollup_statement(collection, inputs);

    fs::path out(options.out);
    std::string written =
        signing_key ? attestation::to_json(attestation::sign_envelope(attestation::in_toto_payload_type,
                                                                      statement.dump(), *signing_key))
                          .dump(2)
                    : statement.dump(2);
    write_atomically(out, written + "\n");
    auto markdown = attestation::markdown_path(out);
    write_atomically(markdown, attestation::rollup_markdown(statement));

    const auto& predicate = statement["predicate"];
    std::cout << fmt::format("roll-up {} ({} .. {}): {} runs included, {} excluded, {} outside the period{}\n",
                             period.label, predicate["period"]["from"].get<std::string>(),
                             predicate["period"]["to"].get<std::string>(), collection.included.size(),
                             collection.excluded.size(), collection.outside_period,
                             collection.duplicates > 0
                                 ? fmt::format(", {} found again and counted once", collection.duplicates)
                                 : std::string());
    for (const auto& run : collection.excluded)
      std::cout << fmt::format("  excluded {}{}: {}\n", run.attestation, run.period_known ? "" : " (period unknown)",
                               run.reason);
    for (const auto& chain : collection.chains)
      if (!chain.valid) std::cout << fmt::format("  chain {} BROKEN: {}\n", chain.directory, chain.reason);
    if (predicate["policy"].is_object())
      for (const auto& rule : predicate["policy"]["rules"])
        std::cout << fmt::format("  policy rule '{}': {}\n", rule["name"].get<std::string>(),
                                 rule["result"].get<std::string>());
    std::cout << fmt::format("result: {}\nwritten: {} and {}\n", predicate["result"].get<std::string>(), out.string(),
                             markdown.string());
    if (signing_key)
      std::cout << fmt::format("verify: firedrill verify {} --key PUB --artifacts {} --deep\n", out.string(),
                               collection.root.string());
    else
      std::cerr << "firedrill attest: the roll-up is NOT signed (no --sign-key or FIREDRILL_SIGNING_KEY)\n";
    return predicate["result"] == "FAILED" ? exit_code::failed : exit_code::ok;
  } catch (const attestation::RollupInputError& error) {
    std::cerr << "firedrill attest: " << error.what() << "\n";
    return exit_code::invalid_input;
  }
}

}  // namespace

void setup_attest(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<AttestOptions>();
  auto* attest = app.add_subcommand(
      "attest", "Sign a roll-up of every verified drill of a period, judged by a policy and mapped to controls");
  attest->add_option("dir", options->runs_dirs, "runs directories (each a run's --out, with chain.jsonl)");
  attest->add_option("--reports", options->reports, "a runs directory (same as DIR; repeatable)");
  attest->add_option("--period", options->period, "2026-11, 2026-Q4, 2026 or 2026-10-01..2026-12-31")->required();
  attest->add_option("--out", options->out, "the roll-up file; its Markdown summary goes beside it as .md")->required();
  attest->add_option("--sign-key", options->sign_key, "private key (PKCS#8 PEM); default FIREDRILL_SIGNING_KEY");
  attest->add_flag("--require-signature", options->require_signature, "refuse to write an unsigned roll-up");
  attest->add_option("--key", options->trusted_keys,
                     "public key trusted to have signed the runs (repeatable; default the --sign-key's)");
  attest->add_option("--policy", options->policy, "policy file: which drills must run how often")->check(CLI::ExistingFile);
  attest->add_option("--controls", options->controls, "control mapping file")->check(CLI::ExistingFile);
  attest->add_flag("--exclude-unverified", options->exclude_unverified,
                   "write the roll-up even when runs fail verification, listing them as excluded (result WARNED at best)");
  attest->callback([options, &result] { result.exit_code = attest_command(*options); });
}

}  // namespace firedrill
