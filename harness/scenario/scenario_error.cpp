#include "harness/scenario/scenario_error.hpp"

#include <fmt/format.h>

namespace firedrill {

ScenarioError::ScenarioError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error([&] {
        std::string text;
        for (const auto& diagnostic : diagnostics) {
          if (!text.empty()) text += '\n';
          text += format(diagnostic);
        }
        return text;
      }()),
      diagnostics_(std::move(diagnostics)) {}

std::string ScenarioError::format(const Diagnostic& diagnostic) {
  const SourceLocation& where = diagnostic.where;
  if (where.line <= 0) return fmt::format("{}: {}", where.file, diagnostic.message);
  return fmt::format("{}:{}:{}: {}\n    {}\n    {}^", where.file, where.line, where.column, diagnostic.message,
                     diagnostic.source_line, std::string(diagnostic.caret, ' '));
}

}  // namespace firedrill
