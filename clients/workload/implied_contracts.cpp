#include "clients/workload/implied_contracts.hpp"

#include <fmt/format.h>

namespace firedrill {

// Writer names are [a-z0-9-] (the loader checks), so they stand as SQL and JSON literals as they are.

WriteRequestSpec fixture_app_write(const std::string& writer) {
  WriteRequestSpec write;
  write.kind = "http";
  write.method = "POST";
  write.path = "/orders";
  write.headers = {{"Content-Type", "application/json"}};
  write.body = fmt::format(R"({{"id":"${{write.id}}","writer":"{}","sent":"${{write.time}}"}})", writer);
  write.body_is_json = true;
  return write;
}

ReadBackSpec fixture_app_read_back() {
  ReadBackSpec read;
  read.kind = "http";
  read.path = "/orders?limit=10000";
  read.ids_at = "/ids";
  read.next_at = "/next";
  read.next_param = "after";
  return read;
}

WriteRequestSpec firedrill_writes_insert(const std::string& writer) {
  WriteRequestSpec write;
  write.kind = "sql";
  write.setup = {fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, writer text NOT NULL, sent_at timestamptz NOT NULL)",
      sql_writes_table)};
  write.statements = {fmt::format("INSERT INTO {} (id, writer, sent_at) VALUES ($1, '{}', $2)", sql_writes_table, writer)};
  return write;
}

ReadBackSpec firedrill_writes_select(const std::string& writer) {
  ReadBackSpec read;
  read.kind = "sql";
  read.query = fmt::format("SELECT id FROM {} WHERE writer = '{}'", sql_writes_table, writer);
  return read;
}

WriteRequestSpec redis_set_write() {
  WriteRequestSpec write;
  write.kind = "redis";
  write.command = {"SET", "${write.id}", "${write.time}"};
  return write;
}

ReadBackSpec redis_scan_read_back() {
  ReadBackSpec read;
  read.kind = "redis";
  read.scan_prefix = true;
  return read;
}

}  // namespace firedrill
