#include "harness/scenario/yaml_tree.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <sstream>
#include <utility>

#include <fmt/format.h>

namespace firedrill::scenario_yaml {
namespace {

constexpr int max_nesting = 64;
constexpr std::size_t max_nodes = 100'000;

Pos to_pos(const YAML::Mark& mark) {
  if (mark.is_null()) return Pos{};
  return Pos{mark.line + 1, mark.column + 1};
}


class TreeBuilder : public YAML::EventHandler {
 public:
  /// The single document's root; throws Failure for any construct a scenario may not use.
  Node build(YAML::Parser& parser) {
    if (!parser.HandleNextDocument(*this))
      fail(Pos{}, "the scenario is empty: expected a map with version, name, services and steps");
    // Reading on finds a second document; OnDocumentStart rejects it.
    parser.HandleNextDocument(*this);
    return std::move(root_);
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (documents_++ > 0) fail(to_pos(mark), "a scenario file holds one YAML document; found a second one");
    document_start_ = to_pos(mark);
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Node node;
    node.where = to_pos(mark);
    start_node(mark, "", anchor);
    add(std::move(node));
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { reject_anchor(mark); }
  void OnAnchor(const YAML::Mark& mark, const std::string&) override { reject_anchor(mark); }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    start_node(mark, tag, anchor);
    Node node;
    node.kind = Node::Kind::scalar;
    node.value = value;
    node.where = to_pos(mark);
    add(std::move(node));
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, tag, anchor, Node::Kind::sequence);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, tag, anchor, Node::Kind::map);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    Node node;
    bool expecting_key = true;
    std::string key;
    Pos key_where;
    std::map<std::string, Pos> keys_seen;
  };

  [[noreturn]] static void reject_anchor(const YAML::Mark& mark) {
    fail(to_pos(mark), "anchors and aliases are not supported in scenarios");
  }

  void start_node(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor) {
    if (anchor != 0) reject_anchor(mark);
    // "?" is an untagged plain node and "!" a quoted scalar; anything else was written as a tag.
    if (!tag.empty() && tag != "?" && tag != "!") fail(to_pos(mark), "YAML tags are not supported in scenarios");
    if (++nodes_ > max_nodes) fail(to_pos(mark), fmt::format("the scenario has more than {} YAML nodes", max_nodes));
  }

  void open(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor, Node::Kind kind) {
    start_node(mark, tag, anchor);
    if (stack_.size() >= max_nesting) fail(to_pos(mark), fmt::format("nesting deeper than {} levels", max_nesting));
    Frame frame;
    frame.node.kind = kind;
    frame.node.where = to_pos(mark);
    stack_.push_back(std::move(frame));
  }

  void close() {
    Node node = std::move(stack_.back().node);
    stack_.pop_back();
    add(std::move(node));
  }

  void add(Node node) {
    if (stack_.empty()) {
      root_ = std::move(node);
      // An empty document is marked at whatever follows it.
      if (root_.kind == Node::Kind::null) root_.where = document_start_;
      return;
    }
    Frame& parent = stack_.back();
    if (parent.node.kind == Node::Kind::sequence) {
      parent.node.items.push_back(std::move(node));
      return;
    }
    if (parent.expecting_key) {
      if (node.kind != Node::Kind::scalar) fail(node.where, "map keys must be plain words");
      auto [seen, inserted] = parent.keys_seen.emplace(node.value, node.where);
      if (!inserted)
        fail(node.where, fmt::format("duplicate key '{}' (first given at line {}, column {})", node.value,
                                     seen->second.line, seen->second.column));
      parent.key = std::move(node.value);
      parent.key_where = node.where;
      parent.expecting_key = false;
      return;
    }
    // An empty value is reported where its key is: the parser marks it at the next token.
    if (node.kind == Node::Kind::null) node.where = parent.key_where;
    parent.node.entries.push_back(Entry{std::move(parent.key), parent.key_where, std::move(node)});
    parent.expecting_key = true;
  }

  Node root_;
  std::vector<Frame> stack_;
  std::size_t nodes_ = 0;
  int documents_ = 0;
  Pos document_start_;
};


void check_bytes(std::string_view text) {
  Pos where;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '\0') fail(where, "NUL byte in the scenario (is this a binary file?)");
    const std::size_t length = utf8_length(text, i);
    if (length == 0)
      fail(where, fmt::format("invalid UTF-8 (byte 0x{:02x}); a scenario must be UTF-8 text",
                              static_cast<unsigned char>(text[i])));
    if (text[i] == '\n') {
      ++where.line;
      where.column = 1;
    } else {
      where.column += static_cast<int>(length);
    }
    i += length;
  }
}

/// Turns the parser's exception into a Failure. yaml-cpp reports a tab in indentation as whatever
/// construct it then failed to close, so the first tab-indented line up to the error is named instead.
[[noreturn]] void fail_on_yaml_error(std::string_view text, const YAML::Exception& error) {
  const Pos where = to_pos(error.mark);
  Pos line_start;
  for (std::size_t i = 0; i < text.size() && line_start.line <= where.line; ++line_start.line) {
    std::size_t end = text.find('\n', i);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(i, end - i);
    const std::size_t content = line.find_first_not_of(" \t");
    const std::size_t tab = line.substr(0, content).find('\t');
    if (content != std::string_view::npos && line[content] != '#' && tab != std::string_view::npos)
      fail(Pos{line_start.line, static_cast<int>(tab) + 1}, "tab used for indentation; indent with spaces");
    i = end + 1;
  }
  // Aliases are refused when their anchor is defined; one without an anchor fails in the parser first.
  if (error.msg == YAML::ErrorMsg::UNKNOWN_ANCHOR) fail(where, "anchors and aliases are not supported in scenarios");
  fail(where, error.msg);
}

}  // namespace

[[noreturn]] void fail(Pos where, std::string message) { throw Failure{where, std::move(message)}; }

std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF)
    length = 2;
  else if (lead >= 0xE0 && lead <= 0xEF)
    length = 3;
  else if (lead >= 0xF0 && lead <= 0xF4)
    length = 4;
  else
    return 0;
  // Reject overlong forms, UTF-16 surrogates and code points past U+10FFFF.
  if (lead == 0xE0) low = 0xA0;
  if (lead == 0xED) high = 0x9F;
  if (lead == 0xF0) low = 0x90;
  if (lead == 0xF4) high = 0x8F;
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    const unsigned char b = byte(i + k);
    const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
    if (b < lo || b > hi) return 0;
  }
  return length;
}

Node read_tree(std::string_view text) {
  check_bytes(text);
  try {
    std::istringstream stream{std::string(text)};
    YAML::Parser parser(stream);
    return TreeBuilder().build(parser);
  } catch (const YAML::Exception& e) {
    fail_on_yaml_error(text, e);
  }
}

const char* describe(const Node& node) {
  switch (node.kind) {
    case Node::Kind::null: return "nothing";
    case Node::Kind::scalar: return "a single value";
    case Node::Kind::sequence: return "a list";
    case Node::Kind::map: return "a map";
  }
  return "something else";
}

const Entry* find(const Node& map, std::string_view key) {
  for (const auto& entry : map.entries)
    if (entry.key == key) return &entry;
  return nullptr;
}

void substitute_vars(Node& node, const std::map<std::string, std::string>& vars) {
  if (node.kind == Node::Kind::scalar && node.value.find("${var.") != std::string::npos) {
    const std::string& text = node.value;
    std::string substituted;
    std::size_t done = 0;
    for (std::size_t at = text.find("${var."); at != std::string::npos; at = text.find("${var.", done)) {
      const std::size_t close = text.find('}', at);
      if (close == std::string::npos) fail(node.where, fmt::format("unterminated '${{' in '{}'", text));
      const std::string name = text.substr(at + 6, close - at - 6);
      const auto found = vars.find(name);
      if (found == vars.end()) fail(node.where, fmt::format("undefined variable '{}' (pass --var {}=...)", name, name));
      substituted.append(text, done, at - done).append(found->second);
      node.var_values.push_back(found->second);
      done = close + 1;
    }
    node.value = substituted.append(text, done);
  }
  for (auto& item : node.items) substitute_vars(item, vars);
  for (auto& entry : node.entries) substitute_vars(entry.value, vars);
}

}  // namespace firedrill::scenario_yaml
