#include "harness/runtime/process_group.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace firedrill {
namespace {

/// The fields of /proc/<pid>/stat after the command name: [0] is field 3 (state). The name may
/// hold spaces and parentheses, so the fields start after its last ')'.
std::optional<std::vector<std::string>> stat_fields(int pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  if (!in) return std::nullopt;
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream stream(stat.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; stream >> field;) fields.push_back(field);
  if (fields.size() < 20) return std::nullopt;
  return fields;
}

constexpr std::size_t state_field = 0;          // field 3
constexpr std::size_t process_group_field = 2;  // field 5
constexpr std::size_t start_time_field = 19;    // field 22

std::optional<unsigned long long> number(const std::string& text) {
  try {
    std::size_t used = 0;
    const auto value = std::stoull(text, &used);
    if (used != text.size() || text.starts_with('-')) return std::nullopt;
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<unsigned long long> process_start_time(int pid) {
  const auto fields = stat_fields(pid);
  if (!fields) return std::nullopt;
  return number((*fields)[start_time_field]);
}

std::string RecordedProcess::to_text() const {
  return fmt::format("pid={} start_time={} process_group={}\n", pid, start_time, process_group);
}

std::optional<RecordedProcess> RecordedProcess::parse(const std::string& text) {
  std::istringstream stream(text);
  RecordedProcess process;
  bool pid = false, start = false, group = false;
  for (std::string item; stream >> item;) {
    const auto equals = item.find('=');
    if (equals == std::string::npos) return std::nullopt;
    const auto value = number(item.substr(equals + 1));
    if (!value) return std::nullopt;
    const std::string key = item.substr(0, equals);
    if (key == "pid") process.pid = static_cast<int>(*value), pid = true;
    else if (key == "start_time") process.start_time = *value, start = true;
    else if (key == "process_group") process.process_group = static_cast<int>(*value), group = true;
    else return std::nullopt;
  }
  if (!pid || !start || !group || process.pid <= 1 || process.process_group <= 1) return std::nullopt;
  return process;
}

bool RecordedProcess::leader_alive() const {
  const auto fields = stat_fields(pid);
  if (!fields || number((*fields)[start_time_field]) != start_time) return false;
  const std::string& state = (*fields)[state_field];
  return state != "Z" && state != "X";
}

std::vector<int> RecordedProcess::members() const {
  std::vector<int> found;
  if (process_group <= 1) return found;
  const auto leader = stat_fields(pid);
  // The pid names another process: ours is gone, and so was its group when the pid was reused.
  if (leader && number((*leader)[start_time_field]) != start_time) return found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const auto candidate = number(entry.path().filename().string());
    if (!candidate) continue;
    const auto fields = stat_fields(static_cast<int>(*candidate));
    if (!fields || number((*fields)[process_group_field]) != static_cast<unsigned long long>(process_group)) continue;
    // Every member of the group was started after its leader.
    const auto started = number((*fields)[start_time_field]);
    if (!started || *started < start_time) continue;
    found.push_back(static_cast<int>(*candidate));
  }
  return found;
}

void write_pid_file(const std::filesystem::path& file, const RecordedProcess& process) {
  std::filesystem::path partial = file;
  partial += ".partial";
  {
    std::ofstream out(partial, std::ios::trunc);
    out << process.to_text();
    out.close();
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", partial.string()));
  }
  ::chmod(partial.c_str(), 0644);
  std::filesystem::rename(partial, file);
}

std::optional<RecordedProcess> read_pid_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return RecordedProcess::parse(text);
}

bool signal_recorded_group(const RecordedProcess& process, int signal) {
  if (process.members().empty()) return false;
  return ::killpg(process.process_group, signal) == 0;
}

bool kill_recorded_group(const RecordedProcess& process, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  signal_recorded_group(process, SIGCONT);
  signal_recorded_group(process, SIGKILL);
  while (true) {
    // A zombie is dead; it lingers only until its parent (this process, or init) reaps it.
    bool left = false;
    for (int member : process.members()) {
      const auto still = RecordedProcess{member, process_start_time(member).value_or(0), process.process_group};
      if (still.leader_alive()) left = true;
    }
    if (!left) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    signal_recorded_group(process, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int kill_recorded_processes(const std::vector<std::filesystem::path>& pid_files, std::vector<std::string>& errors) {
  int killed = 0;
  for (const auto& file : pid_files) {
    const auto process = read_pid_file(file);
    if (!process) continue;
    const bool had_members = !process->members().empty();
    if (!kill_recorded_group(*process, std::chrono::seconds(5))) {
      errors.push_back(fmt::format("process group {} ({}): still running after SIGKILL", process->process_group, file.string()));
      continue;
    }
    if (had_members) ++killed;
    std::error_code ignored;
    std::filesystem::remove(file, ignored);
  }
  return killed;
}

}  // namespace firedrill
