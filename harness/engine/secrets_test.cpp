#include "harness/engine/secrets.hpp"

#include <gtest/gtest.h>

namespace firedrill {
namespace {

TEST(SecretScrubber, MasksEveryOccurrence) {
  SecretScrubber secrets;
  secrets.add("s3cr3t-pass");
  EXPECT_EQ(secrets.scrub("postgresql://u:s3cr3t-pass@db/x s3cr3t-pass"), "postgresql://u:******@db/x ******");
}

TEST(SecretScrubber, APasswordMadeOfTheMasksCharactersEnds) {
  // "****" used to be found again inside its own replacement, forever.
  SecretScrubber secrets;
  secrets.add("****");
  EXPECT_EQ(secrets.scrub("postgresql://app:****@db:5432/app"), "postgresql://app:******@db:5432/app");
  secrets.add("*");
  EXPECT_EQ(secrets.scrub("a*b"), "a******b");
}

TEST(SecretScrubber, ShortSecretsAreMaskedToo) {
  SecretScrubber secrets;
  secrets.add("pw");
  EXPECT_EQ(secrets.scrub("redis://:pw@cache"), "redis://:******@cache");
  secrets.add("");
  EXPECT_EQ(secrets.scrub("nothing"), "nothing");
}

TEST(SecretScrubber, TheLongerOfTwoOverlappingSecretsIsMaskedWhole) {
  SecretScrubber secrets;
  secrets.add("abc");
  secrets.add("abcdef");
  EXPECT_EQ(secrets.scrub("xabcdefx abc"), "x******x ******");
  EXPECT_EQ(secrets.scrub("xabcdefx abc").find("def"), std::string::npos);
}

}  // namespace
}  // namespace firedrill
