#include "core/secrets.hpp"

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

TEST(SecretScrubber, APasswordIsMaskedInItsUrlFormToo) {
  SecretScrubber secrets;
  secrets.add("p@ss/w rd");
  EXPECT_EQ(secrets.scrub("postgresql://u:p%40ss%2Fw%20rd@db/x and p@ss/w rd"), "postgresql://u:******@db/x and ******");
}

TEST(SecretScrubber, EveryStringOfAJsonValueIsMaskedAndMadeValidUtf8) {
  SecretScrubber secrets;
  secrets.add("hunter2");
  const nlohmann::json event = {{"error", "FATAL: password hunter2 \xFF"},
                                {"details", {{"sql", {"a", "hunter2"}}, {"n", 3}}}};
  const auto scrubbed = secrets.scrub_json(event);
  const std::string text = scrubbed.dump();
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_EQ(scrubbed["error"], "FATAL: password ****** \xEF\xBF\xBD");
  EXPECT_EQ(scrubbed["details"]["sql"][1], "******");
  EXPECT_EQ(scrubbed["details"]["n"], 3);
}

TEST(SecretScrubber, APasswordThatIsAlsoAWordOfTheReportLeavesItsStructureAlone) {
  // POSTGRES_PASSWORD: postgres is common; "pass" and "ok" are words every reader looks for.
  SecretScrubber secrets;
  for (const char* password : {"postgres", "pass", "ok"}) secrets.add(password);
  const nlohmann::json report = {{"verdict", "pass"},
                                 {"steps", {{{"name", "ok"}, {"outcome", "ok"}, {"error", "password pass rejected"}}}},
                                 {"environment", {{"services", {{{"name", "db"}, {"kind", "postgres"}}}}}},
                                 {"reasons", {"login as postgres failed"}}};
  const auto scrubbed = secrets.scrub_json(report);
  EXPECT_EQ(scrubbed["verdict"], "pass");
  EXPECT_EQ(scrubbed["steps"][0]["outcome"], "ok");
  EXPECT_EQ(scrubbed["steps"][0]["name"], "ok");
  EXPECT_EQ(scrubbed["environment"]["services"][0]["kind"], "postgres");
  EXPECT_EQ(scrubbed["steps"][0]["error"], "******word ****** rejected");
  EXPECT_EQ(scrubbed["reasons"][0], "login as ****** failed");
}

TEST(SecretsInEnv, NamesThatSaySecretAndPasswordsInUrls) {
  const auto secrets = secrets_in_env({{"REDIS_PASSWORD", "r3d1s"},
                                       {"API_TOKEN", "tok"},
                                       {"AWS_SECRET_ACCESS_KEY", "aws"},
                                       {"STRIPE_KEY", "sk"},
                                       {"CACHE_URL", "redis://:urlpw@cache:6379/0"},
                                       {"DATABASE_URL", "postgresql://app:dbpw@db:5432/app"},
                                       {"PUBLIC_URL", "http://app:8080/"},
                                       {"POSTGRES_HOST_AUTH_METHOD", "trust"},
                                       {"LOG_LEVEL", "debug"}});
  EXPECT_EQ(secrets, (std::vector<std::string>{"tok", "aws", "urlpw", "dbpw", "r3d1s", "sk"}));
}

}  // namespace
}  // namespace firedrill
