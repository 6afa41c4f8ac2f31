#pragma once
// Where each `what` of `corrupt` finds its file and which of its bytes may change: asked of the
// running service first, then read from the files of the stopped one. Private to corrupt.cpp.
#include <cstdint>
#include <string>
#include <vector>

#include "core/confined_file.hpp"
#include "injectors/corrupt_bytes.hpp"
#include "injectors/injector.hpp"

namespace firedrill {

/// Where a fault lands: the file as the service sees it, the same file on this machine, and the
/// bytes that may change.
struct DamagedFile {
  std::string file;  // container path; the host path for a backup
  ConfinedPath host_path;
  std::vector<corrupt::Region> regions;
};

/// What the running service says about where its file is, asked before it is stopped.
struct ServiceFacts {
  std::string relation_file;  // relation: data_directory/pg_relation_filepath
  std::string data_directory;  // wal
  std::uint64_t wal_segment_size = 0;
  std::string redis_directory;  // rdb, aof
  std::string redis_rdb;
  std::string redis_aof_directory;  // empty before Redis 7
  std::string redis_aof_name;
};

/// Asks the running service where the file of `what` is, before the fault stops it.
ServiceFacts ask_running_service(Runtime& runtime, const StepSpec& step, const std::string& what);

/// The file to damage and where in it, once the service (if any) is still.
DamagedFile locate(const FaultContext& context, const StepSpec& step, const std::string& what, const ServiceFacts& facts);

}  // namespace firedrill
