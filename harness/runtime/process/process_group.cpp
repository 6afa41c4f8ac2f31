#include "harness/runtime/process/process_group.hpp"

#include <signal.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "harness/runtime/process/child_reaper.hpp"
#include "harness/runtime/process/process_files.hpp"
#include "harness/runtime/process/service_cgroup.hpp"

namespace firedrill {
namespace {

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

/// Without a cgroup: the recorded group's members and every descendant of theirs that has not
/// exited, each started no earlier than the recorded process.
std::vector<int> process_tree(const RecordedProcess& record) {
  std::vector<int> found;
  if (record.process_group <= 1) return found;
  const auto leader = read_process_stat(record.pid);
  // The pid names another process: ours is gone, and so was its group when the pid was reused.
  if (leader && leader->start_time != record.start_time) return found;
  std::map<int, ProcessStat> processes;
  for (const int pid : process_ids())
    if (const auto stat = read_process_stat(pid); stat && stat->start_time >= record.start_time) processes[pid] = *stat;
  // Without its leader the group's id is free to be a new process's pid, and that process's
  // group then has the same id: only members of the session the service started in are ours.
  const bool leaderless = !leader || leader->exited();
  std::set<int> tree;
  for (const auto& [pid, stat] : processes)
    if (stat.process_group == record.process_group && (!leaderless || record.session == 0 || stat.session == record.session))
      tree.insert(pid);
  // Descendants: parents come before children in no particular order of pids, so repeat until
  // nothing is added.
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [pid, stat] : processes)
      if (!tree.contains(pid) && tree.contains(stat.parent)) grew = tree.insert(pid).second || grew;
  }
  for (const int pid : tree)
    if (!processes.at(pid).exited()) found.push_back(pid);
  return found;
}

void signal_each(const std::vector<int>& pids, int signal) {
  for (const int pid : pids) ::kill(pid, signal);
}

/// Waits (up to 5 s) until each of `pids` has taken its SIGSTOP or is gone: a signal is only
/// delivered when its process next runs, and until then it can still fork.
void wait_stopped(const std::vector<int>& pids) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (const int pid : pids) {
    while (true) {
      const auto stat = read_process_stat(pid);
      if (!stat || stat->state == 'T' || stat->state == 't' || stat->exited()) break;
      if (std::chrono::steady_clock::now() >= deadline) return;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
}

/// Stops the whole tree: a stopped process forks no more, so the tree read after stopping every
/// process found holds still. Returns every process stopped.
std::vector<int> stop_tree(const RecordedProcess& record) {
  std::set<int> stopped;
  for (int round = 0; round < 16; ++round) {
    std::vector<int> fresh;
    for (const int pid : record.members())
      if (!stopped.contains(pid)) fresh.push_back(pid);
    if (fresh.empty()) break;
    signal_each(fresh, SIGSTOP);
    wait_stopped(fresh);
    stopped.insert(fresh.begin(), fresh.end());
  }
  return {stopped.begin(), stopped.end()};
}

}  // namespace

std::optional<unsigned long long> process_start_time(int pid) {
  const auto stat = read_process_stat(pid);
  if (!stat) return std::nullopt;
  return stat->start_time;
}

std::string RecordedProcess::to_text() const {
  std::string text = fmt::format("pid={} start_time={} process_group={}", pid, start_time, process_group);
  if (!cgroup.empty()) text += fmt::format(" cgroup={}", cgroup.string());
  if (session > 0) text += fmt::format(" session={}", session);
  return text + "\n";
}

std::optional<RecordedProcess> RecordedProcess::parse(const std::string& text) {
  std::istringstream stream(text);
  RecordedProcess process;
  bool pid = false, start = false, group = false;
  for (std::string item; stream >> item;) {
    const auto equals = item.find('=');
    if (equals == std::string::npos) return std::nullopt;
    const std::string key = item.substr(0, equals);
    const std::string value_text = item.substr(equals + 1);
    if (key == "cgroup") {
      // Only a cgroup firedrill makes: whoever wrote the file must not direct a kill elsewhere.
      if (!is_service_cgroup(value_text)) return std::nullopt;
      process.cgroup = value_text;
      continue;
    }
    const auto value = number(value_text);
    if (!value) return std::nullopt;
    if (key == "pid") process.pid = static_cast<int>(*value), pid = true;
    else if (key == "start_time") process.start_time = *value, start = true;
    else if (key == "process_group") process.process_group = static_cast<int>(*value), group = true;
    else if (key == "session" && *value > 0 && *value <= 0x7fffffff) process.session = static_cast<int>(*value);
    else return std::nullopt;
  }
  if (!pid || !start || !group || process.pid <= 1 || process.process_group <= 1) return std::nullopt;
  return process;
}

bool RecordedProcess::leader_alive() const {
  const auto stat = read_process_stat(pid);
  return stat && stat->start_time == start_time && !stat->exited();
}

std::vector<int> RecordedProcess::members() const {
  if (!cgroup.empty()) return service_cgroup_processes(cgroup);
  return process_tree(*this);
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
  // Root acts on what the file names: one that another user wrote (or could have) is no record.
  struct stat info {};
  if (::lstat(file.c_str(), &info) != 0 || !S_ISREG(info.st_mode) || (info.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
      (info.st_uid != ::geteuid() && info.st_uid != 0))
    return std::nullopt;
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return RecordedProcess::parse(text);
}

bool signal_recorded_processes(const RecordedProcess& process, int signal) {
  const std::vector<int> members = process.members();
  if (members.empty()) return false;
  signal_each(members, signal);
  return true;
}

bool freeze_recorded_processes(const RecordedProcess& process, bool frozen) {
  if (process.members().empty()) return false;
  if (!process.cgroup.empty()) return freeze_service_cgroup(process.cgroup, frozen, std::chrono::seconds(5));
  if (frozen) return !stop_tree(process).empty();
  return signal_recorded_processes(process, SIGCONT);
}

void remove_segments_created_by(const std::vector<int>& pids) {
  if (pids.empty()) return;
  const std::set<long> creators(pids.begin(), pids.end());
  std::ifstream listing("/proc/sysvipc/shm");
  std::string line;
  std::getline(listing, line);  // the header
  while (std::getline(listing, line)) {
    std::istringstream fields(line);
    long key = 0, id = -1, perms = 0, size = 0, creator = 0, last = 0, attached = 0;
    if (!(fields >> key >> id >> perms >> size >> creator >> last >> attached) || !creators.contains(creator) || attached != 0)
      continue;
    shmid_ds segment{};
    // Checked again by id: the listing is a moment old.
    if (::shmctl(static_cast<int>(id), IPC_STAT, &segment) == 0 && segment.shm_cpid == creator && segment.shm_nattch == 0)
      ::shmctl(static_cast<int>(id), IPC_RMID, nullptr);
  }
}

bool kill_recorded_processes(const RecordedProcess& process, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!process.cgroup.empty()) {
    freeze_service_cgroup(process.cgroup, false, std::chrono::milliseconds(500));
    const std::vector<int> members = service_cgroup_processes(process.cgroup);
    const bool emptied = kill_service_cgroup(process.cgroup, timeout);
    reap_exited(members, 1000);
    if (emptied) remove_segments_created_by(members);
    return emptied;
  }
  // pid -> start time: a pid that dies and is given to another process is not ours any more.
  std::map<int, unsigned long long> killed;
  const auto kill_new = [&](const std::vector<int>& pids) {
    for (const int pid : pids) {
      const auto started = process_start_time(pid);
      if (!started || killed.contains(pid)) continue;
      killed[pid] = *started;
      ::kill(pid, SIGKILL);
      ::kill(pid, SIGCONT);
    }
  };
  // Stopped first, so that nothing forks between reading the tree and killing it.
  kill_new(stop_tree(process));
  while (true) {
    kill_new(process.members());  // anything of the tree that escaped the stop
    std::vector<int> alive;
    for (const auto& [pid, started] : killed)
      if (const auto stat = read_process_stat(pid); stat && stat->start_time == started && !stat->exited()) alive.push_back(pid);
    if (alive.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    signal_each(alive, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::vector<int> pids;
  for (const auto& [pid, started] : killed) pids.push_back(pid);
  reap_exited(pids, 1000);
  remove_segments_created_by(pids);
  return true;
}

int kill_recorded_processes(const std::vector<std::filesystem::path>& pid_files, std::vector<std::string>& errors) {
  int killed = 0;
  for (const auto& file : pid_files) {
    const auto process = read_pid_file(file);
    if (!process) continue;
    const bool had_members = !process->members().empty();
    if (!kill_recorded_processes(*process, std::chrono::seconds(5))) {
      errors.push_back(fmt::format("process group {} ({}): still running after SIGKILL", process->process_group, file.string()));
      continue;
    }
    if (!process->cgroup.empty()) {
      std::string error;
      if (!remove_service_cgroup(process->cgroup, error)) errors.push_back(error);
    }
    if (had_members) ++killed;
    std::error_code ignored;
    std::filesystem::remove(file, ignored);
  }
  return killed;
}

}  // namespace firedrill
