#pragma once
// The text of the commands the process runtime runs: programs found on the search path a
// service's processes get, KEY=VALUE environments, the container paths in arguments and scripts
// rewritten to their places on this machine, and the last line of a shell script, where the
// scripts firedrill's services start hand over to the image's program.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace firedrill {

/// The PATH of every service's processes after its stand-ins: postgresql-15's programs first, as
/// in the postgres image, so the psql and pg_* an exec names are the server's own version.
inline constexpr const char* service_search_path =
    "/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// argv[0] as a path: itself when it holds a '/', else the first match in `first_directory` (a
/// service's stand-ins) or on service_search_path; the name unchanged when none matches (exec
/// then reports it).
std::string resolve_program(const std::string& program, const std::filesystem::path& first_directory = {});

/// KEY=VALUE entries as a map (an entry without '=' is a key with an empty value; a later entry
/// wins, as in a container's environment).
std::map<std::string, std::string> environment_map(const std::vector<std::string>& entries);

/// The value of `key`, or `fallback` when it is missing or empty (as the images' entrypoints read
/// their variables).
std::string value_or(const std::map<std::string, std::string>& map, const std::string& key, const std::string& fallback);

/// The words of `text` split at blanks (no quoting: the images split POSTGRES_INITDB_ARGS so).
std::vector<std::string> split_words(const std::string& text);

/// Container path -> host path, as a service's place maps them (service_place.hpp).
using PathRoots = std::vector<std::pair<std::string, std::string>>;

/// `text` with every occurrence of a container path of `roots` rewritten to its host path, in one
/// pass so a rewritten path is never rewritten again. A path counts where one may start (the
/// text's start, blanks, quotes and the separators of options, lists and shell redirections) and
/// only whole: /data in /database is not the data directory.
std::string with_host_paths(const std::string& text, const PathRoots& roots);

/// The last non-blank line of the script of `shell -c SCRIPT ...` when command[0] is one of
/// `shells`; nullopt for any other command.
std::optional<std::string> last_script_line(const std::vector<std::string>& command, const std::vector<std::string>& shells);

}  // namespace firedrill
