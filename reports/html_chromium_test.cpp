// report.html in a real browser: Debian's headless Chromium loads the page of a fixture run with
// every network feature off, and must log no console error; a screenshot is kept for people.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "reports/html.hpp"
#include "reports/registry.hpp"

namespace firedrill {
namespace {

const std::filesystem::path fixture_run = std::filesystem::path(FIREDRILL_SOURCE_DIR) / "reports/testdata/run";
const std::filesystem::path artifact_dir = std::filesystem::path(FIREDRILL_BINARY_DIR) / "html-artifacts";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Browser {
  int status = -1;
  std::string output;  // stdout then stderr
};

/// Runs headless Chromium on `page` with a fresh profile that is removed afterwards. `mode` is
/// --dump-dom or --screenshot=FILE.
Browser chromium(const std::filesystem::path& page, const std::string& mode) {
  char profile_template[] = "/tmp/firedrill-chromium-XXXXXX";
  const char* profile = ::mkdtemp(profile_template);
  if (profile == nullptr) throw std::runtime_error("mkdtemp failed");
  std::filesystem::path log = std::filesystem::path(profile).string() + ".log";
  std::string command = fmt::format(
      "timeout 60 chromium --headless --disable-gpu --no-sandbox --no-first-run --disable-background-networking "
      "--disable-component-update --disable-sync --disable-default-apps --no-default-browser-check "
      "--host-resolver-rules='MAP * ~NOTFOUND' --user-data-dir={} --enable-logging=stderr --v=0 "
      "--window-size=1280,2000 --hide-scrollbars {} {} >{} 2>&1",
      quoted(profile), quoted(mode), quoted("file://" + page.string()), quoted(log.string()));
  Browser browser;
  int raw = std::system(command.c_str());
  browser.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  browser.output = read_file(log);
  std::error_code ignored;
  std::filesystem::remove_all(profile, ignored);
  std::filesystem::remove(log, ignored);
  return browser;
}

/// Chromium's log lines that report a page's console errors, uncaught exceptions and blocked
/// loads (a Content-Security-Policy violation is one).
std::vector<std::string> console_errors(const std::string& log) {
  std::vector<std::string> errors;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.find("CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos ||
        line.find("Content Security Policy") != std::string::npos || line.find("net::ERR_") != std::string::npos)
      errors.push_back(line);
  return errors;
}

class ReportHtmlInChromium : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v chromium >/dev/null 2>&1") != 0) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
    std::filesystem::create_directories(artifact_dir);
  }
};

TEST_F(ReportHtmlInChromium, TheFixtureRunsPageLoadsCleanlyAndIsScreenshotted) {
  auto run_dir = artifact_dir / "run";
  std::filesystem::remove_all(run_dir);
  std::filesystem::create_directories(run_dir);
  for (const char* name : {"events.jsonl", "acks.jsonl", "readback.jsonl"}) std::filesystem::copy_file(fixture_run / name, run_dir / name);
  write_report_files(run_dir, nlohmann::json::parse(read_file(fixture_run / "report.json")));
  auto page = run_dir / "report.html";
  ASSERT_TRUE(std::filesystem::exists(page));

  Browser dom = chromium(page, "--dump-dom");
  ASSERT_EQ(dom.status, 0) << dom.output;
  EXPECT_NE(dom.output.find("<h1>FAIL — quickstart</h1>"), std::string::npos) << dom.output.substr(0, 2000);
  EXPECT_NE(dom.output.find("<svg class=\"timeline\""), std::string::npos);
  EXPECT_NE(dom.output.find("<path class=\"lost\""), std::string::npos);
  EXPECT_EQ(console_errors(dom.output), std::vector<std::string>{});

  auto screenshot = artifact_dir / "report.png";
  std::filesystem::remove(screenshot);
  Browser shot = chromium(page, "--screenshot=" + screenshot.string());
  ASSERT_EQ(shot.status, 0) << shot.output;
  EXPECT_EQ(console_errors(shot.output), std::vector<std::string>{});
  ASSERT_TRUE(std::filesystem::exists(screenshot)) << shot.output;
  EXPECT_EQ(read_file(screenshot).substr(1, 3), "PNG");
  EXPECT_GT(std::filesystem::file_size(screenshot), 20'000u) << "a blank page compresses to almost nothing";
  std::cout << "screenshot: " << screenshot.string() << "\npage: " << page.string() << "\n";
}

// The assertion above means something only if a broken page would fail it.
TEST_F(ReportHtmlInChromium, AConsoleErrorOrABlockedFetchIsNoticed) {
  auto page = artifact_dir / "broken.html";
  std::ofstream(page) << "<!DOCTYPE html><html><head>"
                         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'\">"
                         "</head><body><script>console.error('broken page');</script>"
                         "<img src=\"http://198.18.0.1/pixel.png\"></body></html>";
  Browser dom = chromium(page, "--dump-dom");
  std::filesystem::remove(page);
  auto errors = console_errors(dom.output);
  ASSERT_FALSE(errors.empty()) << dom.output;
  std::string all;
  for (const auto& line : errors) all += line + "\n";
  EXPECT_NE(all.find("broken page"), std::string::npos) << all;
  EXPECT_NE(all.find("Content Security Policy"), std::string::npos) << all;
}

}  // namespace
}  // namespace firedrill
