#include "clients/workload/write_template.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace firedrill {
namespace {

void append_escaped(std::string& out, std::string_view value, WriteTemplate::Escape escape) {
  switch (escape) {
    case WriteTemplate::Escape::none:
      out.append(value);
      return;
    case WriteTemplate::Escape::json_string:
      for (const char c : value) {
        if (c == '"' || c == '\\') {
          out.push_back('\\');
          out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
          out.append(fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c))));
        } else {
          out.push_back(c);
        }
      }
      return;
    case WriteTemplate::Escape::url:
      for (const char c : value) {
        const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved)
          out.push_back(c);
        else
          out.append(fmt::format("%{:02X}", static_cast<unsigned>(static_cast<unsigned char>(c))));
      }
      return;
  }
}

}  // namespace

WriteTemplate WriteTemplate::compile(std::string_view text, Escape escape) {
  WriteTemplate compiled;
  compiled.escape_ = escape;
  std::size_t done = 0;
  auto literal = [&](std::size_t until) {
    if (until > done) compiled.parts_.push_back({Variable::none, std::string(text.substr(done, until - done))});
  };
  for (std::size_t at = text.find("${"); at != std::string_view::npos; at = text.find("${", done)) {
    const std::size_t close = text.find('}', at);
    if (close == std::string_view::npos) throw TemplateError(at, fmt::format("unterminated '${{' in '{}'", text));
    const std::string_view name = text.substr(at + 2, close - at - 2);
    Variable variable = Variable::none;
    if (name == "write.id") variable = Variable::id;
    if (name == "write.seq") variable = Variable::seq;
    if (name == "write.time") variable = Variable::time;
    if (variable == Variable::none)
      throw TemplateError(at, fmt::format("unknown variable '${{{}}}': a write's templates name {}, ${{env.NAME}} "
                                          "or ${{var.NAME}}",
                                          name, write_template_variables));
    literal(at);
    compiled.parts_.push_back({variable, {}});
    done = close + 1;
  }
  literal(text.size());
  return compiled;
}

std::string WriteTemplate::render(const WriteVariables& variables) const {
  std::string out;
  for (const Part& part : parts_) {
    switch (part.variable) {
      case Variable::none:
        out.append(part.text);
        break;
      case Variable::id:
        append_escaped(out, variables.id, escape_);
        break;
      case Variable::seq:
        out.append(std::to_string(variables.seq));
        break;
      case Variable::time:
        append_escaped(out, variables.time, escape_);
        break;
    }
  }
  return out;
}

bool WriteTemplate::names(std::string_view variable) const {
  const Variable wanted = variable == "write.id"     ? Variable::id
                          : variable == "write.seq"  ? Variable::seq
                          : variable == "write.time" ? Variable::time
                                                     : Variable::none;
  for (const Part& part : parts_)
    if (wanted != Variable::none && part.variable == wanted) return true;
  return false;
}

int highest_sql_parameter(std::string_view sql) {
  int highest = 0;
  char quote = 0;  // inside '...' or "..."
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      if (c == quote) quote = 0;  // a doubled quote closes and reopens: the same to this scan
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      continue;
    }
    if (c != '$' || i + 1 >= sql.size() || sql[i + 1] < '0' || sql[i + 1] > '9') continue;
    // $1 but not a dollar-quoted string's tag ($tag$) or part of an identifier (a$1).
    if (i > 0 && (std::isalnum(static_cast<unsigned char>(sql[i - 1])) || sql[i - 1] == '_')) continue;
    int number = 0;
    std::size_t j = i + 1;
    while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9' && number < 100000) number = number * 10 + (sql[j++] - '0');
    highest = std::max(highest, number);
    i = j - 1;
  }
  return highest;
}

}  // namespace firedrill
