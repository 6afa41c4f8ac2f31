#pragma once
// The scenario's YAML as a tree, built from the parser's events so that every limit (nesting,
// node count, one document, no anchors or aliases) is enforced before it is exceeded and no alias
// is ever expanded; the first problem is a position and a message (Failure).
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace firedrill::scenario_yaml {

/// 1-based line and column (the column counts bytes, as YAML marks do).
struct Pos {
  int line = 1;
  int column = 1;
};

/// The first problem found; turned into a ScenarioError::Diagnostic by parse_scenario.
struct Failure {
  Pos where;
  std::string message;
};

/// Throws Failure.
[[noreturn]] void fail(Pos where, std::string message);

struct Entry;

struct Node {
  enum class Kind { null, scalar, sequence, map };
  Kind kind = Kind::null;
  std::string value;           // scalar
  std::vector<Node> items;     // sequence
  std::vector<Entry> entries;  // map, in file order
  Pos where;
  std::vector<std::string> var_values;  // scalar: the --var values substituted into it
};

struct Entry {
  std::string key;
  Pos key_where;
  Node value;
};

/// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is not one.
std::size_t utf8_length(std::string_view text, std::size_t i);

/// The tree of `text`: its bytes checked (UTF-8, no NUL), its one document parsed within the
/// limits. Throws Failure for anything a scenario may not hold.
Node read_tree(std::string_view text);

/// "a map", "a list", ... for messages.
const char* describe(const Node& node);
/// The entry of `map` with this key, or null.
const Entry* find(const Node& map, std::string_view key);
/// Replaces every ${var.NAME} in the tree's scalars with vars' value; an unknown name fails.
void substitute_vars(Node& node, const std::map<std::string, std::string>& vars);

}  // namespace firedrill::scenario_yaml
