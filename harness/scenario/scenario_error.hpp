#pragma once
// The error of an invalid scenario, with where and why.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace firedrill {

/// A scenario is invalid: exit code 2. what() is the whole formatted text of every diagnostic,
/// one after the other, each in the form
///
///     scenarios/x.yaml:14:25: unknown fault 'partiton' (did you mean 'partition'?)
///         - { name: x, fault: partiton, target: db }
///                             ^
///
/// (a diagnostic without a line, such as an unreadable file, is just `file: message`).
/// The loader stops at the first error it finds, so today there is exactly one diagnostic.
class ScenarioError : public std::runtime_error {
 public:
  struct Diagnostic {
    SourceLocation where;     // line and column are 1-based; 0 when the error has no position
    std::string message;      // without the location prefix
    std::string source_line;  // the line as shown under the message (tabs as spaces)
    std::size_t caret = 0;    // characters before the caret under source_line
  };

  explicit ScenarioError(std::vector<Diagnostic> diagnostics);

  /// Never empty.
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

  /// `file:line:col: message`, the source line indented by four spaces, and a caret under the
  /// column; no trailing newline.
  static std::string format(const Diagnostic& diagnostic);

 private:
  std::vector<Diagnostic> diagnostics_;
};

}  // namespace firedrill
