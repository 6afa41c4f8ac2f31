#include "harness/services/connection_string.hpp"

#include <libpq-fe.h>

#include <map>
#include <memory>

#include <gtest/gtest.h>

#include "core/secrets.hpp"
#include "harness/services/patroni.hpp"
#include "harness/services/registry.hpp"
#include "harness/services/service.hpp"

namespace firedrill {
namespace {

/// What libpq itself reads from a conninfo or URL (parsing only: nothing is connected to).
std::map<std::string, std::string> libpq_reads(const std::string& text) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options{PQconninfoParse(text.c_str(), &error),
                                                                       &PQconninfoFree};
  std::string message = error != nullptr ? error : "";
  PQfreemem(error);
  EXPECT_NE(options, nullptr) << text << ": " << message;
  std::map<std::string, std::string> fields;
  if (!options) return fields;
  for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option)
    if (option->val != nullptr) fields[option->keyword] = option->val;
  return fields;
}

// Every character the review named: a space (libpq's "missing =" error quoted a fragment), the
// URL delimiters that repointed ${db.url}, and libpq's own quote and escape characters.
const std::string hostile_password = "p w@/:?#'\\x=%";
const std::string hostile_database = "postgres host=198.51.100.7";

ServiceSpec postgres_spec() {
  ServiceSpec db;
  db.name = "db";
  db.kind = "postgres";
  db.image = "firedrill/postgres:15";
  db.env = {{"POSTGRES_DB", hostile_database}, {"POSTGRES_USER", "shop owner"}, {"POSTGRES_PASSWORD", hostile_password}};
  return db;
}

TEST(ConnectionString, PlainValuesStayAsTheyAreAndOthersAreQuoted) {
  EXPECT_EQ(conninfo_value("postgres"), "postgres");
  EXPECT_EQ(conninfo_value("127.0.0.1,127.0.0.1"), "127.0.0.1,127.0.0.1");
  EXPECT_EQ(conninfo_value(""), "''");
  EXPECT_EQ(conninfo_value("a b"), "'a b'");
  EXPECT_EQ(conninfo_value("it's\\"), "'it\\'s\\\\'");
  EXPECT_EQ(conninfo({{"host", "127.0.0.1"}, {"dbname", "a b"}}), "host=127.0.0.1 dbname='a b'");
}

TEST(ConnectionString, ADatabaseNameCannotAddAHostToTheHarnessConninfo) {
  auto service = make_service(postgres_spec());
  ContainerInfo info;
  info.host_ports[5432] = 40001;
  const auto fields = libpq_reads(service->harness_conninfo(info));
  EXPECT_EQ(fields.at("host"), "127.0.0.1");
  EXPECT_EQ(fields.count("hostaddr"), 0u);
  EXPECT_EQ(fields.at("port"), "40001");
  EXPECT_EQ(fields.at("dbname"), hostile_database);
  EXPECT_EQ(fields.at("user"), "shop owner");
  EXPECT_EQ(fields.at("password"), hostile_password);
}

TEST(ConnectionString, ThePasswordCannotRepointTheUrlOtherContainersGet) {
  auto service = make_service(postgres_spec());
  const std::string url = service->url_at("db", 5432);
  const auto fields = libpq_reads(url);
  EXPECT_EQ(fields.at("host"), "db");
  EXPECT_EQ(fields.at("port"), "5432");
  EXPECT_EQ(fields.at("dbname"), hostile_database);
  EXPECT_EQ(fields.at("user"), "shop owner");
  EXPECT_EQ(fields.at("password"), hostile_password);
  // The scrubber masks the form the URL holds.
  SecretScrubber scrubber;
  scrubber.add(hostile_password);
  EXPECT_EQ(scrubber.scrub(url), "postgresql://shop%20owner:" + std::string(SecretScrubber::mask) +
                                     "@db:5432/postgres%20host%3D198.51.100.7");
}

TEST(ConnectionString, PatroniConninfosAndUrlsHoldTheirValues) {
  const auto conninfo_fields = libpq_reads(patroni_conninfo({41001, 41002}, "shop owner", hostile_password, hostile_database));
  EXPECT_EQ(conninfo_fields.at("host"), "127.0.0.1,127.0.0.1");
  EXPECT_EQ(conninfo_fields.at("port"), "41001,41002");
  EXPECT_EQ(conninfo_fields.at("dbname"), hostile_database);
  EXPECT_EQ(conninfo_fields.at("password"), hostile_password);
  EXPECT_EQ(conninfo_fields.at("target_session_attrs"), "read-write");

  const auto url_fields = libpq_reads(patroni_url({{"db-1", 5432}, {"db-2", 5432}}, "shop owner", hostile_password, hostile_database));
  EXPECT_EQ(url_fields.at("host"), "db-1,db-2");
  EXPECT_EQ(url_fields.at("dbname"), hostile_database);
  EXPECT_EQ(url_fields.at("user"), "shop owner");
  EXPECT_EQ(url_fields.at("password"), hostile_password);
  EXPECT_EQ(url_fields.at("target_session_attrs"), "read-write");
}

TEST(ConnectionString, AUrlGivesTheFormsFrameworksExpect) {
  const std::string url = postgres_url("app user", "p@ss:w/rd", "db:5432", "shop");
  EXPECT_EQ(postgres_url_field(url, "user"), "app user");
  EXPECT_EQ(postgres_url_field(url, "password"), "p@ss:w/rd");
  EXPECT_EQ(postgres_url_field(url, "database"), "shop");
  EXPECT_EQ(postgres_url_field(url, "postgres_url"), "postgres://app%20user:p%40ss%3Aw%2Frd@db:5432/shop");
  EXPECT_EQ(postgres_url_field(url, "conninfo"), "host=db port=5432 user='app user' password='p@ss:w/rd' dbname=shop");
  EXPECT_EQ(postgres_url_field(url, "colour"), std::nullopt);
  // A Patroni cluster's multi-host URL: its hosts and ports as lists, its settings after them.
  const std::string cluster = postgres_url("postgres", "pw", "db-1:5432,db-2:5433", "postgres",
                                           "target_session_attrs=read-write");
  EXPECT_EQ(postgres_url_field(cluster, "conninfo"),
            "host=db-1,db-2 port=5432,5433 user=postgres password=pw dbname=postgres target_session_attrs=read-write");
  EXPECT_THROW(postgres_url_field("redis://:pw@cache:6379", "user"), std::invalid_argument);
}

}  // namespace
}  // namespace firedrill
