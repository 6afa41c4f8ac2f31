#include "clients/scalar_query.hpp"

#include <pqxx/pqxx>

namespace firedrill {

ScalarResult run_scalar_query(const std::string& conninfo, const std::string& sql) {
  ScalarResult result;
  try {
    pqxx::connection connection(conninfo);
    pqxx::read_transaction transaction(connection);
    transaction.exec0("SET LOCAL statement_timeout = '30s'");
    auto rows = transaction.exec(sql);
    if (rows.empty() || rows.columns() == 0)
      result.error = "the query returned no rows";
    else if (rows[0][0].is_null())
      result.error = "the query returned NULL";
    else
      result.value = rows[0][0].c_str();
  } catch (const std::exception& error) {
    result.error = error.what();
  }
  return result;
}

}  // namespace firedrill
