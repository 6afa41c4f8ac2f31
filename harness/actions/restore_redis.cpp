#include "harness/actions/restore_redis.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

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
    context.runtime.kill(target, "KILL");
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
void place_file(const std::filesystem::path& from, const std::filesystem::path& to, const struct stat& owner_of) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  if (::chown(to.c_str(), owner_of.st_uid, owner_of.st_gid) != 0)
    throw ActionFailed(fmt::format("cannot give {} to the owner of the data directory", to.string()));
}

}  // namespace

nlohmann::json restore_redis(ActionContext& context, const StepSpec& step, const std::filesystem::path& folder,
                             Micros deadline) {
  const Micros started = context.clock.now();
  const std::string backup_id = folder.filename().string();
  context.events.record("restore.started", {{"backup_id", backup_id}, {"service", step.target}});
  nlohmann::json phases = nlohmann::json::object();
  try {
    const StagedBackup staged(folder, step.param_text("encrypt_key"), context.clock, phases);
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
    phases["stop_seconds"] = seconds_between_micros(phase_start, context.clock.now());

    phase_start = context.clock.now();
    std::filesystem::path data_directory, rdb_file;
    try {
      data_directory = context.runtime.host_path(step.target, rdb_path.parent_path().string());
      rdb_file = context.runtime.host_path(step.target, rdb_path.string());
    } catch (const EnvironmentError& failure) {
      throw ActionFailed(failure.what());
    }
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
    {
      std::ofstream out(manifest_file, std::ios::trunc);
      out << fmt::format("file {} seq 1 type b\n", base);
      if (!out) throw ActionFailed(fmt::format("cannot write {}", manifest_file.string()));
    }
    if (::chown(manifest_file.c_str(), owner.st_uid, owner.st_gid) != 0)
      throw ActionFailed(fmt::format("cannot give {} to the owner of the data directory", manifest_file.string()));
    place_file(rdb->second, rdb_file, owner);
    phases["copy_seconds"] = seconds_between_micros(phase_start, context.clock.now());

    phase_start = context.clock.now();
    context.runtime.start_again(step.target);
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
    phases["start_seconds"] = seconds_between_micros(phase_start, context.clock.now());

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
    phases["verify_seconds"] = seconds_between_micros(phase_start, context.clock.now());
    phases["total_seconds"] = seconds_between_micros(started, context.clock.now());
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
    phases["total_seconds"] = seconds_between_micros(started, context.clock.now());
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
