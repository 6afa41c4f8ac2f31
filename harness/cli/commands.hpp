#pragma once
// One subcommand per file: each has an options struct, a setup_… that declares it on the
// CLI::App, and returns the exit code through the callback it installs.
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/vocabulary.hpp"
#include "harness/scenario/loader.hpp"
#include "reports/attestation/keys.hpp"

namespace firedrill {

/// Exit codes (DESIGN.md).
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failed = 1;
inline constexpr int invalid_input = 2;
inline constexpr int environment = 3;
inline constexpr int interrupted = 130;
}  // namespace exit_code

/// Where a subcommand leaves its exit code for firedrill_main.
struct CommandResult {
  int exit_code = exit_code::ok;
};

void setup_run(CLI::App& app, CommandResult& result);
void setup_validate(CLI::App& app, CommandResult& result);
void setup_cleanup(CLI::App& app, CommandResult& result);
void setup_up_down(CLI::App& app, CommandResult& result);
void setup_listings(CLI::App& app, CommandResult& result);
void setup_chain(CLI::App& app, CommandResult& result);
void setup_gate(CLI::App& app, CommandResult& result);
void setup_keygen(CLI::App& app, CommandResult& result);
void setup_verify(CLI::App& app, CommandResult& result);
void setup_attest(CLI::App& app, CommandResult& result);
void setup_rehearse(CLI::App& app, CommandResult& result);

/// The faults, actions and checks the registries hold.
Vocabulary registered_vocabulary();

/// The key of `--sign-key PATH`, or of $FIREDRILL_SIGNING_KEY when the option is empty; nothing
/// when neither names one. Throws attestation::KeyError when the file is not a usable key.
std::optional<attestation::SigningKey> signing_key_from(const std::string& option);

/// The runtime `--runtime requested` means ("auto" resolved, see choose_runtime); says which on
/// stderr when it was chosen automatically and `say` is set. An unknown name throws
/// CLI::ValidationError.
std::string choose_runtime_or_refuse(const std::string& requested, bool say);

/// Makes the loader check scenarios against the runtime called `runtime_name`: the steps it
/// cannot serve, and commands it would run on this machine as root.
void check_for_runtime(LoadOptions& load, const std::string& runtime_name);

/// Parses KEY=VALUE options; a malformed one throws CLI::ValidationError.
std::map<std::string, std::string> parse_vars(const std::vector<std::string>& assignments);

}  // namespace firedrill
