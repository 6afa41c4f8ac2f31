#pragma once
// `corrupt`: changes bytes of a file a service relies on, at positions drawn from a seed, and
// records exactly which bytes changed so the drill is reproducible and revertible. Which bytes
// change, how they are written and how they are put back: corrupt_bytes.hpp.
#include "injectors/corrupt_bytes.hpp"
#include "injectors/injector.hpp"

namespace firedrill {

/// `corrupt`: `what: relation` (a Postgres table's data file; checksums make Postgres report the
/// bad page on the next read), `wal` (the WAL record Postgres must read first when it starts, so
/// it refuses to start), `rdb` / `aof` (Redis' persistence files; a damaged RDB makes Redis refuse
/// to start, a damaged AOF either does or loads different data), `backup` (a file of the run's
/// backup repository) or `file` (`path` in the target's container). For all but `file` and
/// `backup` the target is stopped first and started again afterwards, which the events record.
class CorruptInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  /// The inverse it journals, which `firedrill cleanup` reverts with revert_inverse.
  static constexpr const char* journalled_inverse = "corrupt";
  static void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);
  static VerbSpec spec();
  /// Throws std::invalid_argument naming the step when the parameters do not fit together.
  static void check_params(const StepSpec& step);
};

}  // namespace firedrill
