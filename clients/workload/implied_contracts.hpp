#pragma once
// The write and read-back contracts a writer has when the scenario declares none: what the kind
// of the service it writes through implies. They are ordinary contracts, run by the same writers
// and read-backs as declared ones.
#include <string>

#include "core/model.hpp"

namespace firedrill {

/// The table the implied sql writer inserts into.
inline constexpr const char* sql_writes_table = "firedrill_writes";

/// The fixture app: `POST /orders` with `{"id","writer","sent"}`, acknowledged on 2xx.
WriteRequestSpec fixture_app_write(const std::string& writer);
/// Its list of orders: `GET /orders?limit=10000`, ids at /ids, paged by /next as `after`.
ReadBackSpec fixture_app_read_back();

/// A postgres: one autocommit INSERT into firedrill_writes (created when absent).
WriteRequestSpec firedrill_writes_insert(const std::string& writer);
/// Every id the writer inserted into firedrill_writes.
ReadBackSpec firedrill_writes_select(const std::string& writer);

/// A redis: `SET <write id> <sent time>`.
WriteRequestSpec redis_set_write();
/// The writer's keys, found by SCAN of its id prefix.
ReadBackSpec redis_scan_read_back();

}  // namespace firedrill
