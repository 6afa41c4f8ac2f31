#pragma once
// A service's own /etc/hosts, where each container of a run finds its peers' names: read and
// rewritten in place from inside the container (it is a bind mount, so it cannot be replaced by
// a rename), for faults and actions that change what a name resolves to.
#include <string>
#include <vector>

namespace firedrill::hosts_file {

/// The command (argv, run with the service's own shell) that replaces every line naming `name`
/// (as a whole word: not a prefix of db-standby-1) by `lines` ("" removes them).
std::vector<std::string> replacing(const std::string& name, const std::string& lines);

/// The command that prints the lines naming `name` (nothing when none does).
std::vector<std::string> lines_naming(const std::string& name);

}  // namespace firedrill::hosts_file
