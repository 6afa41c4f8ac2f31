#pragma once
// The templates a scenario's writers and read-backs are made of: texts naming ${write.id},
// ${write.seq} and ${write.time}, compiled once at load (where a bad one is a scenario error at
// its line) and rendered per write without parsing again.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace firedrill {

/// What one write's templates may name.
struct WriteVariables {
  std::string_view id;    // ${write.id}: the id firedrill gave the write
  std::int64_t seq = 0;   // ${write.seq}: its number within its writer, from 1
  std::string_view time;  // ${write.time}: when it was sent, RFC 3339 UTC with microseconds
};

/// A template that cannot be compiled; `offset` is where in its text the fault is.
class TemplateError : public std::invalid_argument {
 public:
  TemplateError(std::size_t at, const std::string& message) : std::invalid_argument(message), offset(at) {}
  std::size_t offset;
};

class WriteTemplate {
 public:
  /// How a variable's value is written into the text: as it is, or escaped for the inside of a
  /// JSON string (a body template), or percent-encoded (a path).
  enum class Escape { none, json_string, url };

  WriteTemplate() = default;
  /// Throws TemplateError for an unterminated `${` or a name other than write.id, write.seq and
  /// write.time (${env.NAME} and ${var.NAME} are the loader's, replaced before this).
  static WriteTemplate compile(std::string_view text, Escape escape);

  std::string render(const WriteVariables& variables) const;
  /// True when the template names `variable` ("write.id", ...).
  bool names(std::string_view variable) const;
  /// True when it names no variable at all: its text is what it renders.
  bool is_constant() const { return parts_.size() <= 1 && (parts_.empty() || parts_[0].variable == Variable::none); }

 private:
  enum class Variable { none, id, seq, time };
  struct Part {
    Variable variable = Variable::none;
    std::string text;  // the literal, when variable is none
  };
  std::vector<Part> parts_;
  Escape escape_ = Escape::none;
};

/// The placeholders a template may hold, for messages.
inline constexpr const char* write_template_variables = "${write.id}, ${write.seq}, ${write.time}";

/// The highest $N a SQL text binds (0 for none), ignoring $N inside quoted literals and
/// identifiers, so a read-back query or a write statement can be checked against what it gets.
int highest_sql_parameter(std::string_view sql);

}  // namespace firedrill
