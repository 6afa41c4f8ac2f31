#include "harness/runtime/process/process_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <map>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill {
namespace {

std::optional<unsigned long long> whole_number(std::string_view text) {
  unsigned long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

int signal_number(const std::string& name) {
  std::string bare = name;
  if (bare.starts_with("SIG")) bare.erase(0, 3);
  static const std::map<std::string, int> signals = {
      {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},   {"QUIT", SIGQUIT},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"ABRT", SIGABRT}};
  if (auto found = signals.find(bare); found != signals.end()) return found->second;
  try {
    return std::stoi(bare);
  } catch (const std::exception&) {
    throw std::invalid_argument(fmt::format("unknown signal '{}'", name));
  }
}

std::optional<std::string> read_process_file(int pid, std::string_view name) {
  if (pid <= 0) return std::nullopt;
  const std::string path = fmt::format("/proc/{}/{}", pid, name);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got > 0) {
      text.append(buffer, static_cast<std::size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    const bool failed = got < 0;  // ESRCH: the process exited while its file was read
    ::close(fd);
    if (failed) return std::nullopt;
    return text;
  }
}

std::optional<ProcessStat> parse_process_stat(std::string_view text) {
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // [0] is field 3
  std::string_view rest = text.substr(close + 1);
  while (fields.size() < 20) {
    const auto start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  if (fields.size() < 20 || fields[0].size() != 1) return std::nullopt;
  const auto parent = whole_number(fields[1]);
  const auto group = whole_number(fields[2]);
  const auto session = whole_number(fields[3]);
  const auto started = whole_number(fields[19]);
  if (!parent || !group || !session || !started) return std::nullopt;
  ProcessStat stat;
  stat.state = fields[0][0];
  stat.parent = static_cast<int>(*parent);
  stat.process_group = static_cast<int>(*group);
  stat.session = static_cast<int>(*session);
  stat.start_time = *started;
  return stat;
}

std::optional<ProcessStat> read_process_stat(int pid) {
  const auto text = read_process_file(pid, "stat");
  if (!text) return std::nullopt;
  return parse_process_stat(*text);
}

std::vector<int> process_ids() {
  std::vector<int> found;
  const std::unique_ptr<DIR, int (*)(DIR*)> directory(::opendir("/proc"), ::closedir);
  if (!directory) return found;
  while (const dirent* entry = ::readdir(directory.get())) {
    if (const auto pid = whole_number(entry->d_name); pid && *pid > 0) found.push_back(static_cast<int>(*pid));
  }
  return found;
}

}  // namespace firedrill
