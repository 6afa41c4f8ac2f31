#include "harness/runtime/process/command_line.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

namespace firedrill {
namespace {

namespace fs = std::filesystem;

/// True when `c` may continue a path component, so a container path ending before it is only
/// the beginning of a longer name ("/data" in "/database").
bool continues_name(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

/// True when a path may start after `c`: the text's start, blanks, quotes and the separators of
/// options (--file=/tmp/x), lists (a:/tmp/x) and shell redirections (>/tmp/x).
bool starts_path_after(char c) { return std::isspace(static_cast<unsigned char>(c)) || std::strchr("'\"=:(<>;|&", c) != nullptr; }

}  // namespace

std::string resolve_program(const std::string& program, const fs::path& first_directory) {
  if (program.find('/') != std::string::npos) return program;
  std::istringstream directories((first_directory.empty() ? std::string() : first_directory.string() + ":") +
                                 service_search_path);
  for (std::string directory; std::getline(directories, directory, ':');) {
    const fs::path candidate = fs::path(directory) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return program;
}

std::map<std::string, std::string> environment_map(const std::vector<std::string>& entries) {
  std::map<std::string, std::string> map;
  for (const auto& entry : entries) {
    const auto equals = entry.find('=');
    if (equals == std::string::npos) map[entry] = "";
    else map[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  return map;
}

std::string value_or(const std::map<std::string, std::string>& map, const std::string& key, const std::string& fallback) {
  auto found = map.find(key);
  return found == map.end() || found->second.empty() ? fallback : found->second;
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream stream(text);
  std::vector<std::string> words;
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

std::string with_host_paths(const std::string& text, const PathRoots& roots) {
  std::string rewritten;
  std::size_t position = 0;
  while (position < text.size()) {
    const bool at_start = position == 0 || starts_path_after(text[position - 1]);
    const std::pair<std::string, std::string>* match = nullptr;
    if (at_start && text[position] == '/')
      for (const auto& root : roots)
        if (text.compare(position, root.first.size(), root.first) == 0 &&
            (position + root.first.size() == text.size() || !continues_name(text[position + root.first.size()])) &&
            (match == nullptr || root.first.size() > match->first.size()))
          match = &root;
    if (match) {
      rewritten += match->second;
      position += match->first.size();
    } else {
      rewritten += text[position++];
    }
  }
  return rewritten;
}

std::optional<std::string> last_script_line(const std::vector<std::string>& command, const std::vector<std::string>& shells) {
  if (command.size() < 3 || std::find(shells.begin(), shells.end(), command[0]) == shells.end() || command[1] != "-c")
    return std::nullopt;
  std::string script = command[2];
  while (!script.empty() && std::isspace(static_cast<unsigned char>(script.back()))) script.pop_back();
  const auto newline = script.rfind('\n');
  return newline == std::string::npos ? script : script.substr(newline + 1);
}

}  // namespace firedrill
