#include "harness/actions/restore_redis.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "harness/actions/backup_repository.hpp"

namespace firedrill {
namespace {

using std::chrono::milliseconds;

// The firedrill/redis:7 image keeps Redis' defaults for these; a stopped Redis cannot be asked.
constexpr const char* aof_directory_name = "appendonlydir";
constexpr const char* aof_file_name = "appendonly.aof";

/// Stops the target with KILL: its data is about to be replaced, so nothing is worth saving, and a
/// Redis still starting up ignores TERM. Returns whether it was running.
bool stop_redis(ActionContext& context, const std::string& target, Micros deadline) {
  if (!context.runtime.is_running(target)) return false;
  try {
    process_control(context.runtime).kill(target, "KILL");
  } catch (const EnvironmentError&) {
    // A Redis that refuses its files exits by itself, maybe between the two calls.
    if (context.runtime.is_running(target)) throw;
    return false;
  }
  while (context.runtime.is_running(target)) {
    if (context.clock.now() >= deadline) throw ActionFailed(fmt::format("'{}' did not stop in time", target));
    context.clock.sleep_for(milliseconds(20));
  }
  return true;
}

/// Copies `from` to `to` owned like `owner_of` (Redis runs unprivileged and must rewrite them).
/// Writes `contents` as `to` by a new file beside it renamed over it: a name the container left
/// there (a symlink to a file of this machine) is replaced, never written through.
void place_bytes(const std::string& contents, const std::filesystem::path& to, const struct stat& owner_of) {
  std::filesystem::path fresh = to;
  fresh += ".firedrill-new";
  std::error_code ignored;
  std::filesystem::remove(fresh, ignored);
  const int fd = ::open(fresh.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw ActionFailed(fmt::format("cannot create {}: {}", fresh.string(), std::strerror(errno)));
  std::string_view left = contents;
  bool written = true;
  while (written && !left.empty()) {
    const auto done = ::write(fd, left.data(), left.size());
    if (done < 0 && errno == EINTR) continue;
    written = done > 0;
    if (written) left.remove_prefix(static_cast<std::size_t>(done));
  }
  written = written && ::fchown(fd, owner_of.st_uid, owner_of.st_gid) == 0 && ::fchmod(fd, 0644) == 0;
  written = ::close(fd) == 0 && written;
  std::error_code error;
  if (written) std::filesystem::rename(fresh, to, error);
  if (!written || error) {
    std::filesystem::remove(fresh, ignored);
    throw ActionFailed(fmt::format("cannot write {} for the owner of the data directory", to.string()));
  }
}

void place_file(const std::filesystem::path& from, const std::filesystem::path& to, const struct stat& owner_of) {
  std::ifstream in(from, std::ios::binary);
  if (!in) throw ActionFailed(fmt::format("cannot read {}", from.string()));
  place_bytes(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), to, owner_of);
}

/// The service's data directory, opened inside the root its runtime gives, for the action's
/// length: paths below /proc/self/fd/N stay in the directory that was opened.
class OpenDirectory {
 public:
  explicit OpenDirectory(const ConfinedPath& directory) : fd_(open_confined(directory, O_PATH | O_DIRECTORY)) {}
  OpenDirectory(const OpenDirectory&) = delete;
  OpenDirectory& operator=(const OpenDirectory&) = delete;
  ~OpenDirectory() { ::close(fd_); }
  std::filesystem::path path() const { return fmt::format("/proc/self/fd/{}", fd_); }

 private:
  int fd_;
};

}  // namespace

nlohmann::json restore_redis(ActionContext& context, const StepSpec& step, const std::filesystem::path& folder,
                             Micros deadline) {
  const Micros started = context.clock.now();
  const std::string backup_id = folder.filename().string();
  context.events.record("restore.started", {{"backup_id", backup_id}, {"service", step.target}});
  nlohmann::json phases = nlohmann::json::object();
  try {
    const StagedBackup staged(folder, step.param_text("encrypt_key"), context.manifest_key_file, context.clock, phases,
                              context.journal_create);
    const auto& manifest = staged.manifest();
    if (manifest.value("method", "") != "rdb")
      throw ActionFailed(fmt::format("backup {} was made with {}; a redis restore takes rdb backups", backup_id,
                                     manifest.value("method", "?")));
    const auto rdb = staged.files().find("dump.rdb");
    if (rdb == staged.files().end()) throw ActionFailed(fmt::format("backup {} holds no dump.rdb", backup_id));
    const auto facts = manifest.value("redis", nlohmann::json::object());
    const std::filesystem::path rdb_path = facts.value("rdb_path", "/data/dump.rdb");

    Micros phase_start = context.clock.now();
    const bool found_running = stop_redis(context, step.target, deadline);
    phases["stop_seconds"] = seconds_between(phase_start, context.clock.now());

    phase_start = context.clock.now();
    // The directory comes from the manifest and the container: it is opened inside the
    // container's data, and only plain names are used below it.
    std::optional<OpenDirectory> opened;
    try {
      opened.emplace(file_access(context.runtime).host_path(step.target, rdb_path.parent_path().string()));
    } catch (const std::runtime_error& failure) {
      throw ActionFailed(failure.what());
    }
    if (!is_single_path_component(rdb_path.filename().string()))
      throw ActionFailed(fmt::format("backup {} names the RDB file {}, which is not a file name", backup_id, rdb_path.string()));
    const std::filesystem::path data_directory = opened->path();
    const std::filesystem::path rdb_file = data_directory / rdb_path.filename();
    struct stat owner {};
    if (::stat(data_directory.c_str(), &owner) != 0)
      throw ActionFailed(fmt::format("the data directory of '{}' is not reachable at {}", step.target, data_directory.string()));
    const auto aof_directory = data_directory / aof_directory_name;
    const auto damaged = data_directory / fmt::format("{}.before-{}", aof_directory_name, backup_id);
    if (std::filesystem::exists(aof_directory)) {
      std::filesystem::remove_all(damaged);
      std::filesystem::rename(aof_directory, damaged);
    }
    std::filesystem::create_directory(aof_directory);
    if (::chown(aof_directory.c_str(), owner.st_uid, owner.st_gid) != 0)
      throw ActionFailed(fmt::format("cannot give {} to the owner of the data directory", aof_directory.string()));
    const std::string base = fmt::format("{}.1.base.rdb", aof_file_name);
    place_file(rdb->second, aof_directory / base, owner);
    const auto manifest_file = aof_directory / fmt::format("{}.manifest", aof_file_name);
    place_bytes(fmt::format("file {} seq 1 type b\n", base), manifest_file, owner);
    place_file(rdb->second, rdb_file, owner);
    phases["copy_seconds"] = seconds_between(phase_start, context.clock.now());

    phase_start = context.clock.now();
    process_control(context.runtime).start_again(step.target);
    std::string last_reply;
    while (true) {
      if (context.runtime.is_running(step.target)) {
        auto pong = context.runtime.exec(step.target, {"redis-cli", "PING"}, std::min(milliseconds(2000), time_left(context.clock, deadline)));
        last_reply = without_trailing_newlines(pong.output);
        if (pong.exit_code == 0 && last_reply == "PONG") break;
      } else {
        last_reply = "the container is not running";
      }
      if (context.clock.now() >= deadline)
        throw ActionFailed(fmt::format("'{}' did not answer after the restore: {}", step.target, last_reply));
      context.clock.sleep_for(milliseconds(50));
    }
    phases["start_seconds"] = seconds_between(phase_start, context.clock.now());

    phase_start = context.clock.now();
    std::vector<std::string> missing;
    for (const auto& sampled : facts.value("sampled_keys", nlohmann::json::array())) {
      const std::string key = sampled.value("key", "");
      auto exists = context.runtime.exec(step.target, {"redis-cli", "EXISTS", key}, time_left(context.clock, deadline));
      if (without_trailing_newlines(exists.output) != "1") missing.push_back(key);
    }
    if (!missing.empty())
      throw ActionFailed(fmt::format("sampled keys are missing after the restore: {}", fmt::join(missing, ", ")));
    const long long keys = std::stoll(without_trailing_newlines(
        exec_checked(context.runtime, step.target, {"redis-cli", "DBSIZE"}, time_left(context.clock, deadline), "redis-cli DBSIZE")));
    phases["verify_seconds"] = seconds_between(phase_start, context.clock.now());
    phases["total_seconds"] = seconds_between(started, context.clock.now());
    context.events.record("restore.finished", {{"backup_id", backup_id},
                                               {"service", step.target},
                                               {"outcome", "ok"},
                                               {"keys", keys},
                                               {"phases", phases}});
    return {{"backup_id", backup_id},
            {"keys", keys},
            {"found_running", found_running},
            {"damaged_aof_kept_as", damaged.filename().string()}, {"phases", phases}};
  } catch (const std::exception& failure) {
    phases["total_seconds"] = seconds_between(started, context.clock.now());
    context.events.record("restore.finished", {{"backup_id", backup_id},
                                               {"service", step.target},
                                               {"outcome", "failed"},
                                               {"error", failure.what()},
                                               {"phases", phases}});
    if (dynamic_cast<const ActionFailed*>(&failure) != nullptr) throw;
    throw ActionFailed(fmt::format("restoring backup {} failed: {}", backup_id, failure.what()));
  }
}

}  // namespace firedrill
