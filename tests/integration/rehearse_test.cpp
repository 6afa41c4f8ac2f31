// `firedrill rehearse` end to end in a real terminal: tmux runs the rehearsal in an 80×24 window,
// the test reads the screen (capture-pane), performs the manual promotion from another tmux
// window with the very command the screen shows, presses the keys (send-keys) and then reads the
// signed report of the rehearsal.
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/runtime/cleanup.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::run_command;

const fs::path source_dir = FIREDRILL_SOURCE_DIR;

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::size_t columns(const std::string& line) {
  std::size_t width = 0;
  for (unsigned char c : line)
    if ((c & 0xC0) != 0x80) ++width;
  return width;
}

class Rehearsal : public testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (run_command({"tmux", "-V"}, std::chrono::seconds(10)).exit_code != 0) {
      if (std::getenv("CI")) FAIL() << "tmux is missing; ci/setup installs it";
      GTEST_SKIP() << "tmux is missing (apt-get install tmux)";
    }
    socket_ = "firedrill-rehearse-" + std::to_string(::getpid());
    auto key = run_command({FIREDRILL_BINARY, "keygen", "--out", (out_ / "key").string()}, std::chrono::seconds(30));
    ASSERT_EQ(key.exit_code, 0) << key.output;
  }
  void TearDown() override {
    if (!socket_.empty()) run_command({"tmux", "-L", socket_, "kill-server"}, std::chrono::seconds(10));
    EngineTest::TearDown();
  }

  testing::CommandOutcome tmux(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {"tmux", "-L", socket_});
    return run_command(arguments, std::chrono::seconds(20));
  }

  /// Starts the rehearsal in window 0 of a fresh 80×24 tmux session; its exit code lands in OUT/exit.
  void start_rehearsal(const std::string& scenario) {
    const std::string command = fmt_command(scenario);
    auto started = tmux({"new-session", "-d", "-s", "drill", "-x", "80", "-y", "24", "sh", "-c", command});
    ASSERT_EQ(started.exit_code, 0) << started.output;
  }

  std::string fmt_command(const std::string& scenario) {
    return shell_quote(FIREDRILL_BINARY) + " rehearse " + shell_quote((source_dir / "scenarios" / scenario).string()) +
           " --out " + shell_quote((out_ / "runs").string()) + " --sign-key " + shell_quote((out_ / "key.key").string()) +
           " 2>" + shell_quote((out_ / "stderr").string()) + "; echo $? >" + shell_quote((out_ / "exit").string()) +
           "; sleep 600";
  }

  std::string screen() { return tmux({"capture-pane", "-p", "-t", "drill:0"}).output; }

  /// Polls the screen until `pattern` appears on it; returns that screen.
  std::string wait_for_screen(const std::string& pattern, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
      last = screen();
      if (last.find(pattern) != std::string::npos) return last;
      if (fs::exists(out_ / "exit")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ADD_FAILURE() << "the screen never showed '" << pattern << "'; last screen:\n" << last << "\nstderr:\n"
                  << read_file(out_ / "stderr");
    return last;
  }

  int wait_for_exit(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline && !fs::exists(out_ / "exit"))
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::string code = read_file(out_ / "exit");
    return code.empty() ? -1 : std::stoi(code);
  }

  fs::path run_dir() {
    for (const auto& entry : fs::directory_iterator(out_ / "runs"))
      if (entry.is_directory() && fs::exists(entry.path() / "events.jsonl")) return entry.path();
    return {};
  }

  /// The first command on the screen that starts with `start`, its wrapped lines joined.
  static std::string command_on(const std::string& text, const std::string& start) {
    std::string command;
    bool inside = false;
    for (const auto& line : split_lines(text)) {
      if (!inside && line.rfind("  $ " + start, 0) == 0) {
        inside = true;
        command = line.substr(4);
      } else if (inside && line.rfind("      ", 0) == 0) {
        // The screen wraps a command at a space, ending the line with the shell's " \\".
        if (command.size() >= 2 && command.compare(command.size() - 2, 2, " \\") == 0) command.resize(command.size() - 2);
        command += " " + line.substr(6);
      } else if (inside) {
        break;
      }
    }
    while (!command.empty() && command.back() == ' ') command.pop_back();
    return command;
  }

  std::string socket_;
};

TEST_F(Rehearsal, PersonPromotesByHandAndTheReportTimesEveryHumanStep) {
  start_rehearsal("pg-primary-kill-promote.yaml");
  std::string promote = wait_for_screen("[your step]", std::chrono::seconds(240));
  ASSERT_NE(promote.find("promote the standby"), std::string::npos) << promote;

  // The screen at 80×24: the RTO clock running since the incident, the step, its budget, the
  // probes, the write rates and the keys, nothing wider than the terminal.
  auto lines = split_lines(promote);
  EXPECT_LE(lines.size(), 24u) << promote;
  for (const auto& line : lines) EXPECT_LE(columns(line), 80u) << line;
  EXPECT_TRUE(std::regex_search(promote, std::regex(R"(RTO \d+:\d\d\.\d  since the incident   target 0:30\.0)"))) << promote;
  EXPECT_NE(promote.find("Step 3/6 · promote the standby   [your step]"), std::string::npos) << promote;
  EXPECT_TRUE(std::regex_search(promote, std::regex(R"(elapsed \d+:\d\d\.\d  budget 1:00\.0 \()"))) << promote;
  EXPECT_NE(promote.find("Promote the standby db-standby-1 to primary"), std::string::npos) << promote;
  EXPECT_NE(promote.find("Probes"), std::string::npos) << promote;
  EXPECT_NE(promote.find("Writes  acked"), std::string::npos) << promote;
  EXPECT_NE(promote.find("INCIDENT (T0)"), std::string::npos) << promote;
  EXPECT_NE(promote.find("Enter done · s skip · r firedrill does it · a abort · ? help"), std::string::npos) << promote;
  EXPECT_EQ(promote.find("password="), std::string::npos) << promote;

  // The promotion, done by a person in another window with the command the screen offers.
  const std::string command = command_on(promote, "docker exec ");
  ASSERT_NE(command.find("pg_promote()"), std::string::npos) << promote;
  const fs::path promoted_log = out_ / "promote.log";
  auto window = tmux({"new-window", "-d", "-t", "drill:1", "sh", "-c",
                      command + " >" + shell_quote(promoted_log.string()) + " 2>&1; echo done >>" +
                          shell_quote(promoted_log.string())});
  ASSERT_EQ(window.exit_code, 0) << window.output;
  for (int i = 0; i < 150 && read_file(promoted_log).find("done") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_NE(read_file(promoted_log).find(" t\n"), std::string::npos) << read_file(promoted_log);

  // `?` shows the help over the step; pressing it again brings the step back.
  ASSERT_EQ(tmux({"send-keys", "-t", "drill:0", "?"}).exit_code, 0);
  EXPECT_NE(wait_for_screen("a      abort", std::chrono::seconds(5)).find("Keys:"), std::string::npos);
  ASSERT_EQ(tmux({"send-keys", "-t", "drill:0", "?"}).exit_code, 0);
  ASSERT_EQ(tmux({"send-keys", "-t", "drill:0", "Enter"}).exit_code, 0);

  // The check completes by itself (the standby left recovery); the repoint waits for the person,
  // who lets firedrill perform it.
  std::string repoint = wait_for_screen("point db at the new primary   [your step]", std::chrono::seconds(30));
  EXPECT_NE(repoint.find("step 'confirm the new primary' ok"), std::string::npos) << repoint;
  ASSERT_EQ(tmux({"send-keys", "-t", "drill:0", "r"}).exit_code, 0);

  ASSERT_EQ(wait_for_exit(std::chrono::seconds(180)), 0) << read_file(out_ / "stderr") << "\n" << screen();
  const fs::path run = run_dir();
  ASSERT_FALSE(run.empty());
  EXPECT_FALSE(fs::exists(run / "rehearsal.pgpass")) << "the password file goes with the rehearsal";
  auto report = nlohmann::json::parse(read_file(run / "report.json"));
  EXPECT_EQ(report["mode"], "rehearsal");
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  ASSERT_TRUE(report["measured"]["rto_seconds"].is_number()) << report["measured"].dump(2);
  EXPECT_GT(report["measured"]["rto_seconds"].get<double>(), 0.5);
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);

  std::map<std::string, nlohmann::json> human;
  for (const auto& step : report["steps"])
    if (step.contains("human")) human[step["name"]] = step["human"];
  ASSERT_EQ(human.size(), 3u) << report["steps"].dump(2);
  const auto& promoted = human["promote the standby"];
  EXPECT_EQ(promoted["completed_by"], "person");
  EXPECT_EQ(promoted["budget_seconds"], 60.0);
  EXPECT_EQ(promoted["over_budget"], false);
  EXPECT_GT(promoted["seconds"].get<double>(), 0.5) << "the person's promotion took its time";
  EXPECT_EQ(human["confirm the new primary"]["completed_by"], "condition");
  EXPECT_EQ(human["point db at the new primary"]["completed_by"], "firedrill");
  EXPECT_TRUE(human["point db at the new primary"].contains("over_budget"));

  // Signed like any run, and the predicate says it was a rehearsal.
  auto verified = run_command({FIREDRILL_BINARY, "verify", (run / "attestation.dsse.json").string(), "--key",
                               (out_ / "key.pub").string(), "--artifacts", run.string()},
                              std::chrono::seconds(60));
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  auto envelope = nlohmann::json::parse(read_file(run / "attestation.dsse.json"));
  auto decoded = run_command({"sh", "-c", "echo " + envelope["payload"].get<std::string>() + " | base64 -d"},
                             std::chrono::seconds(10));
  auto statement = nlohmann::json::parse(decoded.output);
  EXPECT_EQ(statement["predicate"]["mode"], "rehearsal");

  const std::string html = read_file(run / "report.html");
  EXPECT_NE(html.find("human step, timed"), std::string::npos);
  EXPECT_NE(html.find("human step promote the standby: ok"), std::string::npos) << "the timeline marks the human steps";

  auto left = count_labelled(report["run_id"].get<std::string>());
  EXPECT_EQ(left.containers, 0);
  EXPECT_EQ(left.networks, 0);
}

TEST_F(Rehearsal, AbortKeyRevertsAndTearsDown) {
  start_rehearsal("pg-primary-kill-promote.yaml");
  std::string promote = wait_for_screen("[your step]", std::chrono::seconds(240));
  ASSERT_EQ(tmux({"send-keys", "-t", "drill:0", "a"}).exit_code, 0);
  EXPECT_EQ(wait_for_exit(std::chrono::seconds(120)), 130) << read_file(out_ / "stderr");
  const fs::path run = run_dir();
  ASSERT_FALSE(run.empty());
  auto report = nlohmann::json::parse(read_file(run / "report.json"));
  EXPECT_EQ(report["mode"], "rehearsal");
  EXPECT_EQ(report["verdict"], "fail");
  auto left = count_labelled(report["run_id"].get<std::string>());
  EXPECT_EQ(left.containers, 0);
  EXPECT_EQ(left.networks, 0);
  EXPECT_EQ(left.volumes, 0);
  // The terminal is itself again: the summary is printed on the normal screen.
  EXPECT_NE(screen().find("firedrill"), std::string::npos) << screen();
}

}  // namespace
}  // namespace firedrill
