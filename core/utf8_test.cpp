#include "core/utf8.hpp"

#include <gtest/gtest.h>

namespace firedrill {
namespace {

TEST(Utf8, WellFormedTextIsLeftAsItIs) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_EQ(replace_invalid_utf8(std::string_view("caf\xC3\xA9")), "caf\xC3\xA9");
}

TEST(Utf8, EveryBadByteBecomesOneReplacementCharacter) {
  // A container's `printf '\377\n'`, a Redis key of one 0xFF byte, a cut multibyte sequence,
  // an overlong '/', a UTF-16 surrogate and a code point past U+10FFFF.
  EXPECT_EQ(replace_invalid_utf8(std::string_view("\xFF\n")), "\xEF\xBF\xBD\n");
  EXPECT_EQ(replace_invalid_utf8(std::string_view("ab\xC3")), "ab\xEF\xBF\xBD");
  EXPECT_EQ(replace_invalid_utf8(std::string_view("\xC0\xAF")), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));
  EXPECT_TRUE(is_valid_utf8(replace_invalid_utf8(std::string_view("\xED\xA0\x80 \xF4\x90\x80\x80"))));
}

TEST(Utf8, AJsonValueIsCleanedThroughoutAndThenDumpsStrictly) {
  nlohmann::json value = {{"error", "log tail: \xFF\xFE"}, {"keys", {"ok", "\x80"}}, {"\xFF", 1}, {"n", 3}};
  EXPECT_THROW((void)value.dump(), nlohmann::json::type_error);
  const auto cleaned = replace_invalid_utf8_json(value);
  EXPECT_NO_THROW((void)cleaned.dump());
  EXPECT_EQ(cleaned["error"], "log tail: \xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(cleaned["keys"][1], "\xEF\xBF\xBD");
  EXPECT_EQ(cleaned["\xEF\xBF\xBD"], 1);
  EXPECT_EQ(cleaned["n"], 3);
}

}  // namespace
}  // namespace firedrill
