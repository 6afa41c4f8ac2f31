#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "clients/transport.hpp"
#include "core/interrupt.hpp"
#include "harness/cli/commands.hpp"
#include "harness/engine/drill.hpp"
#include "harness/engine/run_cleanup.hpp"
#include "harness/rehearse/commands.hpp"
#include "harness/rehearse/console.hpp"
#include "harness/runtime/journal.hpp"
#include "harness/runtime/runtime_choice.hpp"
#include "reports/attestation/chain.hpp"
#include "reports/attestation/keys.hpp"
#include "reports/attestation/statement.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

struct RehearseOptions {
  std::string scenario;
  std::string runtime = "auto";
  std::string out = "firedrill-runs";
  std::vector<std::string> vars;
  std::vector<std::string> repository_roots;  // --repository-root: where `repository:` may point
  std::string sign_key;
  bool auto_actions = false;
  bool lines = false;
};

/// The human steps of a finished rehearsal, one line each: time taken against the budget.
std::string human_step_summary(const nlohmann::json& report) {
  std::string text;
  for (const auto& step : report.value("steps", nlohmann::json::array())) {
    if (!step.contains("human")) continue;
    const auto& human = step["human"];
    std::string budget = human.contains("budget_seconds")
                             ? fmt::format(" of {:.0f}s budget — {}", human["budget_seconds"].get<double>(),
                                           human.value("over_budget", false) ? "OVER" : "under")
                             : "";
    text += fmt::format("  {:<32} {:>7.1f}s{} ({})\n", step.value("name", ""), human.value("seconds", 0.0), budget,
                        human.value("completed_by", ""));
  }
  return text.empty() ? text : "Human steps:\n" + text;
}

int rehearse_command(const RehearseOptions& options) {
  LoadOptions load;
  load.vocabulary = registered_vocabulary();
  load.vars = parse_vars(options.vars);
  load.repository_roots.assign(options.repository_roots.begin(), options.repository_roots.end());
  const std::string runtime_name = choose_runtime_or_refuse(options.runtime, true);
  check_for_runtime(load, runtime_name);
  const Scenario scenario = load_scenario(options.scenario, load);

  std::optional<attestation::SigningKey> key;
  try {
    key = signing_key_from(options.sign_key);
  } catch (const attestation::KeyError& error) {
    std::cerr << "firedrill: " << error.what() << "\n";
    return exit_code::invalid_input;
  }

  install_interrupt_handlers();
  ensure_curl_initialised();
  auto reaped = reap_orphaned_runs(kept_runs());
  for (const auto& run : reaped.runs) std::cerr << "firedrill: removed what dead run " << run << " left behind\n";
  for (const auto& error : reaped.errors)
    std::cerr << "firedrill: could not remove what a dead run left: " << terminal_text(error) << "\n";

  DrillOptions drill_options;
  drill_options.out_dir = options.out;
  drill_options.mode = "rehearsal";
  drill_options.auto_actions = options.auto_actions;
  auto runtime = make_runtime(runtime_name, options.out);
  DrillResult result;
  {
    // The full-screen view needs a terminal for keys and drawing; otherwise prompts on stdin.
    int terminal = -1;
    if (!options.lines && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO))
      terminal = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    std::unique_ptr<Operator> person = terminal >= 0 ? make_terminal_operator(scenario, real_clock(), terminal)
                                                     : make_line_operator(scenario, real_clock(), STDIN_FILENO, std::cout);
    drill_options.human = person.get();
    result = run_drill(scenario, *runtime, drill_options);
    person.reset();  // the terminal is itself again before anything more is printed
    if (terminal >= 0) ::close(terminal);
  }
  remove_rehearsal_password_files(result.run_dir);

  if (key) {
    // As `run` signs: anchored to the chain head, after completing what a killed run left.
    auto chained = attestation::sign_and_chain(options.out, result.run_id, result.run_dir, *key);
    for (const auto& completed : chained.repair.completed)
      std::cerr << fmt::format("firedrill: chained run {}, signed by a run that stopped before chaining it\n", completed);
    std::cerr << fmt::format("firedrill: signed {} (key {}), chain entry {}\n", chained.attestation.string(),
                             key->key_id(), chained.entry["seq"].get<int>());
  } else {
    std::cerr << fmt::format("firedrill: the report of rehearsal {} is NOT signed (no --sign-key or FIREDRILL_SIGNING_KEY)\n",
                             result.run_id);
  }
  std::cout << render_terminal_summary(report_from_json(result.report), result.run_dir, ::isatty(STDOUT_FILENO))
            << human_step_summary(result.report) << std::flush;
  return result.exit_code;
}

}  // namespace

void setup_rehearse(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<RehearseOptions>();
  auto* rehearse = app.add_subcommand(
      "rehearse", "Rehearse a runbook by hand: manual steps shown one at a time, timed against their budgets, on a running RTO clock");
  rehearse->add_option("scenario", options->scenario, "scenario file")->required()->check(CLI::ExistingFile);
  rehearse->add_option("--runtime", options->runtime, runtime_choices)->capture_default_str();
  rehearse->add_option("--out", options->out, "directory of run directories")->capture_default_str();
  rehearse->add_option("--var", options->vars, "KEY=VALUE for ${var.KEY} in the scenario");
  rehearse->add_option("--repository-root", options->repository_roots,
                       "a directory outside the run directory that a step's repository: may name (repeatable)")
      ->check(CLI::ExistingDirectory);
  rehearse->add_option("--sign-key", options->sign_key, "PKCS#8 PEM key (Ed25519 or ECDSA P-256) to sign the attestation");
  rehearse->add_flag("--auto-actions", options->auto_actions,
                     "actions run by themselves even when they carry a `manual:` text (only pure manual steps wait)");
  rehearse->add_flag("--lines", options->lines, "line-by-line prompts on stdin even on a terminal");
  rehearse->callback([options, &result] { result.exit_code = rehearse_command(*options); });
}

}  // namespace firedrill
