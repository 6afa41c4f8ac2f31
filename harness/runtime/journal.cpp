#include "harness/runtime/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "core/clock.hpp"

namespace firedrill {
namespace {

void append_line(const std::filesystem::path& path, const std::string& line, bool durably) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot write journal {}", path.string()));
  std::string text = line + "\n";
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error(fmt::format("cannot write journal {}", path.string()));
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  // The journal is only useful if it survives the harness dying right after this line.
  if (durably) ::fsync(fd);
  ::close(fd);
}

std::filesystem::path index_directory() { return state_directory() / "runs"; }

}  // namespace

std::filesystem::path state_directory() {
  if (const char* dir = std::getenv("FIREDRILL_STATE_DIR"); dir && *dir) return dir;
  if (::geteuid() == 0) return "/var/lib/firedrill";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "firedrill";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : "/tmp") / ".local/state/firedrill";
}

Journal::Journal(const std::filesystem::path& run_dir, const std::string& run_id, const std::string& scenario,
                 const Owner& owner)
    : path_(run_dir / "journal.jsonl"), index_entry_(index_directory() / run_id) {
  std::filesystem::create_directories(index_directory());
  {
    std::ofstream index(index_entry_, std::ios::trunc);
    index << std::filesystem::absolute(run_dir).string() << "\n";
  }
  append({{"op", "begin"}, {"run_id", run_id}, {"scenario", scenario}, {"owner", owner.to_label()}});
}

void Journal::append(nlohmann::json entry, bool durably) {
  entry["t"] = format_rfc3339_micros(real_clock().now());
  std::lock_guard lock(mutex_);
  append_line(path_, entry.dump(), durably);
}

void Journal::record_create(const std::string& kind, const std::string& name) {
  append({{"op", "create"}, {"kind", kind}, {"name", name}});
}

std::string Journal::record_inverse(const nlohmann::json& inverse) {
  std::string id;
  {
    std::lock_guard lock(mutex_);
    id = fmt::format("fault-{}", next_fault_++);
  }
  append({{"op", "fault"}, {"id", id}, {"inverse", inverse}});
  return id;
}

void Journal::mark_reverted(const std::string& id) {
  // Not synced: losing this line only makes `cleanup` undo the fault once more, which every
  // inverse allows; a sync here would compete for the disk with the service just set free (a
  // thawed database's first commits waited 10-20 ms behind it on a busy machine).
  append({{"op", "reverted"}, {"id", id}}, false);
}

void Journal::mark_kept() { append({{"op", "kept"}}); }

void Journal::finish() {
  append({{"op", "end"}});
  std::error_code ignored;
  std::filesystem::remove(index_entry_, ignored);
}

namespace {

/// entry[key] when it is a string, else "": a bent line must not stop `cleanup` with a type error.
std::string text_field(const nlohmann::json& entry, const char* key) {
  const auto found = entry.find(key);
  return found != entry.end() && found->is_string() ? found->get<std::string>() : std::string();
}

}  // namespace

JournalState read_journal(const std::filesystem::path& journal_file) {
  JournalState state;
  state.run_dir = journal_file.parent_path();
  std::ifstream in(journal_file);
  std::string line;
  std::vector<std::pair<std::string, nlohmann::json>> faults;
  std::vector<std::string> reverted;
  while (std::getline(in, line)) {
    auto entry = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (entry.is_discarded() || !entry.is_object()) continue;  // a torn last line
    const std::string op = text_field(entry, "op");
    if (op == "begin") {
      state.run_id = text_field(entry, "run_id");
      state.scenario = text_field(entry, "scenario");
      state.owner = Owner::from_label(text_field(entry, "owner"));
    } else if (op == "create") {
      // A line without a kind and a name of its own names nothing to remove.
      const std::string kind = text_field(entry, "kind"), name = text_field(entry, "name");
      if (!kind.empty() && !name.empty()) state.created.emplace_back(kind, name);
    } else if (op == "fault") {
      faults.emplace_back(text_field(entry, "id"), entry["inverse"]);
    } else if (op == "reverted") {
      // A mark without an id reverts nothing: undoing a fault once more is harmless, leaving
      // one in place is not.
      if (const std::string id = text_field(entry, "id"); !id.empty()) reverted.push_back(id);
    } else if (op == "kept") {
      state.kept = true;
    } else if (op == "end") {
      state.finished = true;
    }
  }
  for (const auto& [id, inverse] : faults)
    if (std::find(reverted.begin(), reverted.end(), id) == reverted.end()) state.unreverted_inverses.push_back(inverse);
  return state;
}

bool is_run_id(std::string_view text) {
  // YYYYMMDD-HHMMSS-<16 hex digits>, or <4> as runs before 64-bit ids were named.
  if ((text.size() != 32 && text.size() != 20) || text[8] != '-' || text[15] != '-') return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 15) continue;
    const char c = text[i];
    const bool digit = c >= '0' && c <= '9';
    if (i < 15 ? !digit : !(digit || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

namespace {

/// The first reason the object at `path` (not followed) is open to other users, "" if none.
std::string open_to_others(const std::filesystem::path& path, bool is_parent) {
  struct stat status {};
  if (::lstat(path.c_str(), &status) != 0) return "";  // absent: nothing there to trust
  const uid_t self = ::geteuid();
  if (S_ISLNK(status.st_mode)) return fmt::format("{} is a symbolic link", path.string());
  if (status.st_uid != self && status.st_uid != 0)
    return fmt::format("{} belongs to uid {}, not to this user", path.string(), status.st_uid);
  const bool sticky = (status.st_mode & S_ISVTX) != 0;
  const bool others_write = (status.st_mode & S_IWOTH) != 0;
  const bool foreign_group_write = (status.st_mode & S_IWGRP) != 0 && status.st_gid != ::getegid() && status.st_gid != 0;
  if (is_parent ? (others_write || foreign_group_write) && !sticky : others_write || foreign_group_write)
    return fmt::format("{} is writable by other users", path.string());
  return "";
}

}  // namespace

std::string written_by_others(const std::filesystem::path& path) {
  if (auto reason = open_to_others(path, false); !reason.empty()) return reason;
  const auto parent = std::filesystem::absolute(path).parent_path();
  return open_to_others(parent, true);
}

std::vector<JournalState> indexed_runs() {
  std::vector<JournalState> runs;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(index_directory(), error)) {
    std::ifstream in(entry.path());
    std::string run_dir;
    std::getline(in, run_dir);
    auto journal = std::filesystem::path(run_dir) / "journal.jsonl";
    JournalState state;
    std::string untrusted = written_by_others(entry.path());
    if (untrusted.empty() && !run_dir.empty()) untrusted = written_by_others(run_dir);
    if (untrusted.empty()) untrusted = written_by_others(journal);
    if (untrusted.empty() && std::filesystem::exists(journal)) state = read_journal(journal);
    state.untrusted = untrusted;
    state.run_id = entry.path().filename().string();
    state.run_dir = run_dir;
    runs.push_back(std::move(state));
  }
  return runs;
}

std::set<std::string> kept_runs() {
  std::set<std::string> kept;
  for (const auto& run : indexed_runs())
    if (run.kept) kept.insert(run.run_id);
  return kept;
}

void forget_run(const std::string& run_id) {
  if (!is_run_id(run_id)) return;
  std::error_code ignored;
  std::filesystem::remove(index_directory() / run_id, ignored);
}

bool journal_names(const JournalState& run, std::initializer_list<const char*> kinds) {
  for (const auto& [kind, name] : run.created)
    for (const char* wanted : kinds)
      if (kind == wanted) return true;
  return false;
}

bool uses_processes(const JournalState& run) { return journal_names(run, {"process"}); }


bool owner_dead(const JournalState& run) {
  return run.owner && run.owner->host == Owner::self().host && !run.owner->alive();
}

}  // namespace firedrill
