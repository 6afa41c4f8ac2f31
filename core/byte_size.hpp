#pragma once
// Sizes as a scenario writes them: `64MiB`, `512KiB`, `1GB`, `4096` (bytes).
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace firedrill {

/// Parses a whole number with an optional unit — B, KB, MB, GB, TB (powers of 1000) or KiB,
/// MiB, GiB, TiB (powers of 1024); no unit means bytes. Nothing when the text is not such a size
/// or overflows 64 bits.
inline std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  std::size_t digits = 0;
  std::uint64_t number = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    const auto digit = static_cast<std::uint64_t>(text[digits] - '0');
    if (number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    number = number * 10 + digit;
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  struct Unit {
    std::string_view name;
    std::uint64_t factor;
  };
  static constexpr Unit units[] = {{"", 1},
                                   {"B", 1},
                                   {"KB", 1000},
                                   {"MB", 1000 * 1000},
                                   {"GB", 1000ull * 1000 * 1000},
                                   {"TB", 1000ull * 1000 * 1000 * 1000},
                                   {"KiB", 1ull << 10},
                                   {"MiB", 1ull << 20},
                                   {"GiB", 1ull << 30},
                                   {"TiB", 1ull << 40}};
  for (const auto& candidate : units) {
    if (candidate.name != unit) continue;
    if (number > std::numeric_limits<std::uint64_t>::max() / candidate.factor) return std::nullopt;
    return number * candidate.factor;
  }
  return std::nullopt;
}

/// What a size must look like, for error messages.
inline constexpr const char* byte_size_forms = "a size like 64MiB, 512KiB, 1GB or a number of bytes";

}  // namespace firedrill
