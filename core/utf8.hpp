#pragma once
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace firedrill {

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF), the only text a JSON, HTML or XML writer can put out as it is.
bool is_valid_utf8(std::string_view text);

/// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
/// Containers, Redis keys and error messages may say anything: they must never cost a report.
std::string replace_invalid_utf8(std::string_view text);

/// `value` with every string in it (object keys included) passed through replace_invalid_utf8.
nlohmann::json replace_invalid_utf8_json(nlohmann::json value);

/// True when `text` holds a C0 control character (a line break, a tab, NUL) or DEL: what may not
/// reach a configuration file firedrill writes line by line.
bool has_control_character(std::string_view text);

}  // namespace firedrill
