#pragma once
// Tests' read-back of a workload: each writer's writes, as its acks name them, read back by a
// contract at the writer's own address.
#include <string>
#include <vector>

#include "checks/history.hpp"
#include "clients/workload/read_back.hpp"
#include "clients/workload/workload.hpp"

namespace firedrill::testing {

inline std::vector<std::string> ids_of(const std::vector<Ack>& acks, const std::string& writer) {
  std::vector<std::string> ids;
  for (const Ack& ack : acks)
    if (ack.writer == writer) ids.push_back(ack.id);
  return ids;
}

/// Throws what read_back_writes throws.
inline Readback read_back(const std::vector<WriterConfig>& writers, const ReadBackSpec& read,
                          const std::vector<Ack>& acks) {
  Readback readback;
  for (const WriterConfig& writer : writers) {
    const ReadBackTarget target{read,        writer.name,     writer.id_prefix, writer.host,
                                writer.port, writer.conninfo, writer.sentinel,  writer.password};
    readback.writers[writer.name] = read_back_writes(target, ids_of(acks, writer.name));
  }
  return readback;
}

}  // namespace firedrill::testing
