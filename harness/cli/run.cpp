#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/engine/drill.hpp"
#include "harness/engine/interrupt.hpp"
#include "harness/engine/journal.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/docker_runtime.hpp"
#include "reports/attestation/chain.hpp"
#include "reports/attestation/keys.hpp"
#include "reports/attestation/statement.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

struct RunOptions {
  std::vector<std::string> scenarios;
  std::string runtime = "auto";
  std::string out = "firedrill-runs";
  std::string junit;
  std::vector<std::string> vars;
  bool keep = false;
  int repeat = 1;
  int parallel = 1;
  bool quiet = false;
  std::string sign_key;
  bool require_signature = false;
};

/// The worst outcome wins: interrupted, then environment, then failed.
int combine_exit_codes(int so_far, int next) {
  auto rank = [](int code) {
    switch (code) {
      case exit_code::interrupted: return 4;
      case exit_code::environment: return 3;
      case exit_code::failed: return 2;
      case exit_code::ok: return 0;
      default: return 1;
    }
  };
  return rank(next) > rank(so_far) ? next : so_far;
}

/// One JUnit document with one testsuite per drill, from the drills' own junit.xml files.
void write_combined_junit(const std::string& path, const std::vector<std::filesystem::path>& run_dirs) {
  std::ofstream out(path, std::ios::trunc);
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n";
  for (const auto& run_dir : run_dirs) {
    std::ifstream in(run_dir / "junit.xml");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("<?xml", 0) != 0 && line.find("testsuites>") == std::string::npos) out << line << "\n";
  }
  out << "</testsuites>\n";
}

std::unique_ptr<Runtime> make_runtime(const std::string& name) {
  if (name == "auto" || name == "docker") return std::make_unique<DockerRuntime>();
  throw CLI::ValidationError("--runtime", fmt::format("runtime '{}' is not available in this version (available: docker)", name));
}

int run_command(const RunOptions& options) {
  LoadOptions load;
  load.vocabulary = registered_vocabulary();
  load.vars = parse_vars(options.vars);
  // Every scenario is checked before anything starts: a typo in the last file must not leave
  // the first drill's containers half-built.
  std::vector<Scenario> scenarios;
  for (const auto& file : options.scenarios) scenarios.push_back(load_scenario(file, load));
  if (options.parallel != 1)
    throw CLI::ValidationError("--parallel", "only --parallel 1 is supported in this version; drills run one after another");

  // The key is read before anything starts: a wrong key must not cost a whole drill.
  std::string key_path = options.sign_key;
  if (key_path.empty())
    if (const char* from_environment = std::getenv("FIREDRILL_SIGNING_KEY")) key_path = from_environment;
  std::optional<attestation::SigningKey> key;
  if (!key_path.empty()) {
    try {
      key = attestation::SigningKey::load(key_path);
    } catch (const attestation::KeyError& error) {
      std::cerr << "firedrill: " << error.what() << "\n";
      return exit_code::invalid_input;
    }
  } else if (options.require_signature) {
    throw CLI::ValidationError("--require-signature", "no signing key: pass --sign-key PEM or set FIREDRILL_SIGNING_KEY");
  }

  install_interrupt_handlers();
  const auto& runtime_name = options.runtime;
  make_runtime(runtime_name);  // refuses an unknown runtime before anything starts
  // Like a container reaper: runs whose owner process died leave nothing for the next one.
  auto reaped = reap_orphaned_runs(kept_runs());
  for (const auto& run : reaped.runs) std::cerr << "firedrill: removed what dead run " << run << " left behind\n";

  DrillOptions drill_options;
  drill_options.out_dir = options.out;
  drill_options.keep = options.keep;
  drill_options.progress = options.quiet ? ProgressStyle::none : ::isatty(STDERR_FILENO) ? ProgressStyle::live : ProgressStyle::lines;

  int exit = exit_code::ok;
  std::vector<std::filesystem::path> run_dirs;
  for (const auto& scenario : scenarios) {
    for (int attempt = 0; attempt < options.repeat; ++attempt) {
      if (interrupted()) break;
      std::cerr << fmt::format("firedrill: {} ({}){}\n", scenario.name, scenario.file,
                               options.repeat > 1 ? fmt::format(" — repetition {}/{}", attempt + 1, options.repeat) : "");
      auto runtime = make_runtime(runtime_name);
      DrillResult result = run_drill(scenario, *runtime, drill_options);
      run_dirs.push_back(result.run_dir);
      if (key) {
        auto envelope = attestation::sign_run_directory(result.run_dir, *key);
        auto entry = attestation::append_to_chain(options.out, result.run_id, envelope);
        std::cerr << fmt::format("firedrill: signed {} (key {}), chain entry {}\n", envelope.string(), key->key_id(),
                                 entry["seq"].get<int>());
      } else {
        std::cerr << "firedrill: the report is NOT signed (no --sign-key or FIREDRILL_SIGNING_KEY)\n";
      }
      std::cout << render_terminal_summary(result.report, result.run_dir, ::isatty(STDOUT_FILENO)) << std::flush;
      if (std::getenv("GITHUB_ACTIONS")) std::cout << render_github_annotations(result.report) << std::flush;
      exit = combine_exit_codes(exit, result.exit_code);
      if (result.exit_code == exit_code::interrupted) break;
    }
  }
  if (!options.junit.empty()) write_combined_junit(options.junit, run_dirs);
  return exit;
}

}  // namespace

void setup_run(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<RunOptions>();
  auto* run = app.add_subcommand("run", "Run drills: bring up, inject, recover, measure, report");
  run->add_option("scenario", options->scenarios, "scenario files")->required()->check(CLI::ExistingFile);
  run->add_option("--runtime", options->runtime, "auto | docker")->capture_default_str();
  run->add_option("--out", options->out, "directory of run directories")->capture_default_str();
  run->add_option("--junit", options->junit, "also write one JUnit file covering every drill");
  run->add_option("--var", options->vars, "KEY=VALUE for ${var.KEY} in scenarios");
  run->add_flag("--keep", options->keep, "leave the environment up after the drill (remove with `firedrill down`)");
  run->add_option("--repeat", options->repeat, "run each scenario N times")->check(CLI::Range(1, 1000));
  run->add_option("--parallel", options->parallel, "drills at once (1 in this version)")->check(CLI::Range(1, 64));
  run->add_option("--sign-key", options->sign_key, "PKCS#8 PEM key (Ed25519 or ECDSA P-256) to sign each run's attestation");
  run->add_flag("--require-signature", options->require_signature, "refuse to run without a signing key");
  run->add_flag("-q,--quiet", options->quiet, "no progress output, only the summaries");
  run->callback([options, &result] { result.exit_code = run_command(*options); });
}

}  // namespace firedrill
