#include "harness/services/pgbackrest.hpp"

#include <fmt/format.h>

namespace firedrill {

std::string pgbackrest_repository_folder(const std::string& service) { return "pgbackrest/" + service; }

std::string pgbackrest_config(const std::string& service, const std::string& user, const std::string& data_directory,
                              const std::string& repository_in_container) {
  // lz4 is the fast compressor of the Debian build; log files would need a directory the
  // image lacks, and the console output is what the harness keeps anyway.
  return fmt::format(R"([global]
repo1-path={}/{}
process-max=1
compress-type=lz4
start-fast=y
log-level-console=info
log-level-stderr=warn
log-level-file=off

[{}]
pg1-path={}
pg1-user={}
)",
                     repository_in_container, pgbackrest_repository_folder(service), service, data_directory, user);
}

std::string pgbackrest_archive_command(const std::string& service) {
  return fmt::format("pgbackrest --stanza={} archive-push %p", service);
}

std::vector<std::string> pgbackrest_command(const std::string& service, const std::vector<std::string>& arguments) {
  std::vector<std::string> argv = {"runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=" + service};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  return argv;
}

std::vector<std::string> pgbackrest_archived_segments(const std::filesystem::path& repository_folder,
                                                      const std::string& service) {
  // archive/<stanza>/<archive id>/<first 16 digits>/<segment>-<sha1>[.<compression>]
  std::vector<std::string> segments;
  std::error_code error;
  for (const auto& archive_id : std::filesystem::directory_iterator(repository_folder / "archive" / service, error)) {
    if (!archive_id.is_directory()) continue;
    for (const auto& prefix : std::filesystem::directory_iterator(archive_id.path(), error)) {
      if (!prefix.is_directory()) continue;
      for (const auto& file : std::filesystem::directory_iterator(prefix.path(), error)) {
        const std::string name = file.path().filename().string();
        if (name.size() > 25 && name[24] == '-') segments.push_back(name.substr(0, 24));
      }
    }
  }
  return segments;
}

}  // namespace firedrill
