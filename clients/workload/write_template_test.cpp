#include "clients/workload/write_template.hpp"

#include <gtest/gtest.h>

namespace firedrill {
namespace {

TEST(WriteTemplate, RendersEachVariableEscapedForWhereItGoes) {
  const WriteVariables write{"run-1-orders-7", 7, "2026-12-07T12:00:00.000001Z"};
  EXPECT_EQ(WriteTemplate::compile("/orders/${write.id}?at=${write.time}", WriteTemplate::Escape::url).render(write),
            "/orders/run-1-orders-7?at=2026-12-07T12%3A00%3A00.000001Z");
  EXPECT_EQ(WriteTemplate::compile(R"({"n":${write.seq},"id":"${write.id}"})", WriteTemplate::Escape::json_string)
                .render(write),
            R"({"n":7,"id":"run-1-orders-7"})");
  const WriteVariables odd{"a\"b\\c\n", 1, ""};
  EXPECT_EQ(WriteTemplate::compile(R"("${write.id}")", WriteTemplate::Escape::json_string).render(odd),
            R"("a\"b\\c\u000a")");
  EXPECT_EQ(WriteTemplate::compile("XADD s * id ${write.id}", WriteTemplate::Escape::none).render(write),
            "XADD s * id run-1-orders-7");
}

TEST(WriteTemplate, SaysWhatItNamesAndWhetherItIsConstant) {
  const auto text = WriteTemplate::compile("Bearer abc", WriteTemplate::Escape::none);
  EXPECT_TRUE(text.is_constant());
  EXPECT_EQ(text.render({}), "Bearer abc");
  const auto id = WriteTemplate::compile("x${write.id}", WriteTemplate::Escape::none);
  EXPECT_FALSE(id.is_constant());
  EXPECT_TRUE(id.names("write.id"));
  EXPECT_FALSE(id.names("write.seq"));
  EXPECT_TRUE(WriteTemplate::compile("", WriteTemplate::Escape::none).is_constant());
}

TEST(WriteTemplate, RefusesUnknownNamesAndUnterminatedPlaceholdersSayingWhere) {
  try {
    (void)WriteTemplate::compile("/a/${write.uid}", WriteTemplate::Escape::none);
    FAIL() << "compiled";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.offset, 3u);
    EXPECT_NE(std::string(e.what()).find("'${write.uid}'"), std::string::npos);
  }
  EXPECT_THROW((void)WriteTemplate::compile("${write.id", WriteTemplate::Escape::none), TemplateError);
  EXPECT_THROW((void)WriteTemplate::compile("${env.KEY}", WriteTemplate::Escape::none), TemplateError);
}

TEST(HighestSqlParameter, CountsBindsOutsideQuotesAndDollarTags) {
  EXPECT_EQ(highest_sql_parameter("SELECT 1"), 0);
  EXPECT_EQ(highest_sql_parameter("INSERT INTO t VALUES ($1, $2)"), 2);
  EXPECT_EQ(highest_sql_parameter("SELECT id FROM t WHERE id = ANY($1::text[])"), 1);
  EXPECT_EQ(highest_sql_parameter("SELECT '$3', \"a$4\" FROM t WHERE x = $1"), 1);
  EXPECT_EQ(highest_sql_parameter("SELECT a$1 FROM t"), 0);
  EXPECT_EQ(highest_sql_parameter("SELECT $12"), 12);
}

}  // namespace
}  // namespace firedrill
