#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "clients/transport.hpp"
#include "core/interrupt.hpp"
#include "core/secrets.hpp"
#include "core/utf8.hpp"
#include "harness/cli/commands.hpp"
#include "harness/engine/drill.hpp"
#include "harness/engine/run_cleanup.hpp"
#include "harness/runtime/journal.hpp"
#include "harness/runtime/runtime_choice.hpp"
#include "reports/attestation/chain.hpp"
#include "reports/attestation/keys.hpp"
#include "reports/attestation/statement.hpp"
#include "reports/pushgateway.hpp"
#include "reports/suite.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

struct RunOptions {
  std::vector<std::string> scenarios;
  std::string runtime = "auto";
  std::string out = "firedrill-runs";
  std::string junit;
  std::vector<std::string> vars;
  std::vector<std::string> repository_roots;  // --repository-root: where `repository:` may point
  bool keep = false;
  int repeat = 1;
  int parallel = 1;
  bool quiet = false;
  std::string sign_key;
  bool require_signature = false;
  std::string pushgateway;
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

/// One drill of the suite: which scenario, and which of its repetitions.
struct Job {
  const Scenario* scenario = nullptr;
  int repetition = 1;
  bool repeated = false;  // the scenario runs more than once in this suite
};

/// What the drills of one suite share: their options, the signing key, and one lock that keeps
/// each drill's closing lines (signature, summary) together on the terminal.
struct SuiteContext {
  const RunOptions& options;
  DrillOptions drill_options;
  const std::optional<attestation::SigningKey>& key;
  std::mutex output_mutex;
};

SuiteRun run_job(const Job& job, SuiteContext& context) {
  const Scenario& scenario = *job.scenario;
  SuiteRun run;
  run.scenario = scenario.name;
  run.scenario_file = scenario.file;
  run.repetition = job.repetition;
  run.started_at = real_clock().now();
  DrillOptions drill_options = context.drill_options;
  if (context.options.parallel > 1)
    drill_options.progress_prefix =
        fmt::format("[{}{}] ", scenario.name, job.repeated ? fmt::format(" #{}", job.repetition) : "");
  {
    std::lock_guard lock(context.output_mutex);
    std::cerr << fmt::format("firedrill: {} ({}){}\n", scenario.name, scenario.file,
                             context.options.repeat > 1
                                 ? fmt::format(" — repetition {}/{}", job.repetition, context.options.repeat)
                                 : "");
  }
  try {
    auto runtime = make_runtime(context.options.runtime, context.options.out);
    DrillResult result = run_drill(scenario, *runtime, drill_options);
    run.finished_at = real_clock().now();
    run.run_id = result.run_id;
    run.run_dir = result.run_dir;
    run.exit_code = result.exit_code;
    run.report = report_from_json(result.report);
    std::lock_guard lock(context.output_mutex);
    if (context.key) {
      // Signed and chained under the chain's lock, after completing what a run killed between
      // the two left: the signature names the chain head this run extends.
      auto chained = attestation::sign_and_chain(context.options.out, result.run_id, result.run_dir, *context.key);
      if (chained.repair.torn_bytes_removed > 0)
        std::cerr << fmt::format("firedrill: removed the torn last line of {}/chain.jsonl ({} bytes)\n",
                                 context.options.out, chained.repair.torn_bytes_removed);
      for (const auto& completed : chained.repair.completed)
        std::cerr << fmt::format("firedrill: chained run {}, signed by a run that stopped before chaining it\n", completed);
      std::cerr << fmt::format("firedrill: signed {} (key {}), chain entry {}\n", chained.attestation.string(),
                               context.key->key_id(), chained.entry["seq"].get<int>());
    } else {
      std::cerr << fmt::format("firedrill: the report of run {} is NOT signed (no --sign-key or FIREDRILL_SIGNING_KEY)\n",
                               result.run_id);
    }
    std::cout << render_terminal_summary(*run.report, result.run_dir, ::isatty(STDOUT_FILENO)) << std::flush;
    if (std::getenv("GITHUB_ACTIONS")) std::cout << render_github_annotations(*run.report) << std::flush;
    if (!context.options.pushgateway.empty()) {
      // The drill's result stands whether or not a metrics gateway took it.
      try {
        push_metrics(context.options.pushgateway, scenario.name, render_openmetrics(*run.report));
      } catch (const std::exception& push_error) {
        std::cerr << "firedrill: " << push_error.what() << "\n";
      }
    }
  } catch (const std::exception& error) {
    // One drill that cannot run (or cannot be signed) must not take its siblings down with it.
    run.finished_at = real_clock().now();
    if (run.exit_code == 0 || run.run_id.empty()) run.exit_code = exit_code::environment;
    // suite.json and the terminal get the error as the drill's own sinks would: masked, valid UTF-8.
    SecretScrubber secrets;
    for (const auto& secret : secrets_of(scenario)) secrets.add(secret);
    run.error = replace_invalid_utf8(secrets.scrub(error.what()));
    std::lock_guard lock(context.output_mutex);
    std::cerr << fmt::format("firedrill: {}{}: {}\n", scenario.name,
                             job.repeated ? fmt::format(" #{}", job.repetition) : "", run.error);
  }
  return run;
}

int run_command(RunOptions options) {
  LoadOptions load;
  load.vocabulary = registered_vocabulary();
  load.vars = parse_vars(options.vars);
  load.repository_roots.assign(options.repository_roots.begin(), options.repository_roots.end());
  // Chosen before the scenarios are read: what they may contain depends on where they run.
  options.runtime = choose_runtime_or_refuse(options.runtime, !options.quiet);
  check_for_runtime(load, options.runtime);
  // Every scenario is checked before anything starts: a typo in the last file must not leave
  // the first drill's containers half-built.
  std::vector<Scenario> scenarios;
  for (const auto& file : options.scenarios) scenarios.push_back(load_scenario(file, load));

  // The key is read before anything starts: a wrong key must not cost a whole drill.
  std::optional<attestation::SigningKey> key;
  try {
    key = signing_key_from(options.sign_key);
  } catch (const attestation::KeyError& error) {
    std::cerr << "firedrill: " << error.what() << "\n";
    return exit_code::invalid_input;
  }
  if (!key && options.require_signature) {
    throw CLI::ValidationError("--require-signature", "no signing key: pass --sign-key PEM or set FIREDRILL_SIGNING_KEY");
  }

  // One flag for the whole process: a signal stops every drill running at once, and each
  // reverts its own faults and tears down its own environment.
  install_interrupt_handlers();
  // libcurl's global state is set up once, before any drill's threads could race to do it.
  ensure_curl_initialised();
  // Like a container reaper: runs whose owner process died leave nothing for the next one. It
  // runs once, before this suite's drills start; they all carry this live process as owner, so
  // a later reaper (another firedrill started meanwhile) spares them too.
  auto reaped = reap_orphaned_runs(kept_runs());
  for (const auto& run : reaped.runs) std::cerr << "firedrill: removed what dead run " << run << " left behind\n";
  for (const auto& error : reaped.errors)
    std::cerr << "firedrill: could not remove what a dead run left: " << terminal_text(error) << "\n";

  std::map<std::string, int> runs_of_scenario;
  for (const auto& scenario : scenarios) runs_of_scenario[scenario.name] += options.repeat;
  std::map<std::string, int> next_repetition;
  std::vector<Job> jobs;
  for (const auto& scenario : scenarios)
    for (int attempt = 0; attempt < options.repeat; ++attempt)
      jobs.push_back({&scenario, ++next_repetition[scenario.name], runs_of_scenario[scenario.name] > 1});

  SuiteContext context{options, {}, key, {}};
  context.drill_options.out_dir = options.out;
  context.drill_options.keep = options.keep;
  // A live status line cannot be shared by drills running at once: they print prefixed lines.
  context.drill_options.progress = options.quiet                                        ? ProgressStyle::none
                                   : options.parallel == 1 && ::isatty(STDERR_FILENO) ? ProgressStyle::live
                                                                                       : ProgressStyle::lines;

  Suite suite;
  suite.started_at = real_clock().now();
  suite.parallel = std::min<int>(options.parallel, static_cast<int>(jobs.size()));
  std::vector<std::optional<SuiteRun>> runs(jobs.size());
  std::atomic<std::size_t> next_job{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    for (std::size_t index = next_job++; index < jobs.size(); index = next_job++) {
      if (interrupted() || stop) return;
      runs[index] = run_job(jobs[index], context);
      if (runs[index]->exit_code == exit_code::interrupted) stop = true;
    }
  };
  if (suite.parallel <= 1) {
    worker();
  } else {
    std::vector<std::thread> workers;
    for (int i = 0; i < suite.parallel; ++i) workers.emplace_back(worker);
    for (auto& thread : workers) thread.join();
  }
  suite.finished_at = real_clock().now();

  int exit = exit_code::ok;
  for (auto& run : runs) {
    if (!run) continue;  // never started: the suite was interrupted first
    exit = combine_exit_codes(exit, run->exit_code);
    suite.runs.push_back(std::move(*run));
  }
  if (interrupted()) exit = combine_exit_codes(exit, exit_code::interrupted);
  suite.exit_code = exit;
  std::optional<std::filesystem::path> junit;
  if (!options.junit.empty()) junit = options.junit;
  std::optional<std::filesystem::path> step_summary;
  if (const char* file = std::getenv("GITHUB_STEP_SUMMARY"); file && *file) step_summary = file;
  write_suite_files(options.out, suite, junit, step_summary);
  if (suite.runs.size() > 1)
    std::cerr << fmt::format("firedrill: suite of {} drills: {} — {}\n", suite.runs.size(),
                             exit == exit_code::ok ? "PASS" : "FAIL", (std::filesystem::path(options.out) / "summary.md").string());
  return exit;
}

}  // namespace

std::optional<attestation::SigningKey> signing_key_from(const std::string& option) {
  std::string key_path = option;
  if (key_path.empty())
    if (const char* from_environment = std::getenv("FIREDRILL_SIGNING_KEY")) key_path = from_environment;
  if (key_path.empty()) return std::nullopt;
  return attestation::SigningKey::load(key_path);
}

void check_for_runtime(LoadOptions& load, const std::string& runtime_name) {
  load.commands_would_run_as_root = runtime_name == "process" && ::geteuid() == 0;
  load.runtime = LoadOptions::RuntimeCapabilities{runtime_name, runtime_entry(runtime_name).capabilities};
}

std::string choose_runtime_or_refuse(const std::string& requested, bool say) {
  std::string chosen;
  try {
    chosen = choose_runtime(requested);
  } catch (const std::invalid_argument& error) {
    throw CLI::ValidationError("--runtime", error.what());
  }
  if (requested == "auto" && say)
    std::cerr << fmt::format("firedrill: runtime {} (auto: {})\n", chosen,
                             chosen == "docker" ? "a container engine answers" : "no container engine answers");
  return chosen;
}

void setup_run(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<RunOptions>();
  auto* run = app.add_subcommand("run", "Run drills: bring up, inject, recover, measure, report");
  run->add_option("scenario", options->scenarios, "scenario files")->required()->check(CLI::ExistingFile);
  run->add_option("--runtime", options->runtime, runtime_choices)->capture_default_str();
  run->add_option("--out", options->out, "directory of run directories")->capture_default_str();
  run->add_option("--junit", options->junit, "the suite's JUnit file, one testsuite per scenario (default OUT/junit.xml)");
  run->add_option("--var", options->vars, "KEY=VALUE for ${var.KEY} in scenarios");
  run->add_option("--repository-root", options->repository_roots,
                  "a directory outside the run directory that a step's repository: may name (repeatable)")
      ->check(CLI::ExistingDirectory);
  run->add_flag("--keep", options->keep, "leave the environment up after the drill (remove with `firedrill down`)");
  run->add_option("--repeat", options->repeat, "run each scenario N times")->check(CLI::Range(1, 1000));
  run->add_option("--parallel", options->parallel, "drills at once, each isolated (own run id, network, names, ports)")
      ->check(CLI::Range(1, 64));
  run->add_option("--sign-key", options->sign_key, "PKCS#8 PEM key (Ed25519 or ECDSA P-256) to sign each run's attestation");
  run->add_flag("--require-signature", options->require_signature, "refuse to run without a signing key");
  run->add_option("--pushgateway", options->pushgateway,
                  "Prometheus Pushgateway URL: PUT each drill's metrics.prom to URL/metrics/job/firedrill/scenario/NAME");
  run->add_flag("-q,--quiet", options->quiet, "no progress output, only the summaries");
  run->callback([options, &result] { result.exit_code = run_command(*options); });
}

}  // namespace firedrill
