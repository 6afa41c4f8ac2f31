#pragma once
#include "harness/actions/action.hpp"

namespace firedrill {

/// `verify-backup`: proves a backup of the target restores. Checks every file's size and SHA-256
/// against the manifest, decrypts (a GCM tag failure means altered bytes or the wrong key), then
/// restores into a scratch container <target>-verify and checks the data: Postgres row counts per
/// table against the manifest and pg_amcheck (pg_dump), pg_verifybackup and a clean start
/// (basebackup); Redis redis-check-rdb, DBSIZE and the sampled keys. Any difference fails the step
/// naming the file or table and why. The scratch container is removed afterwards. Records
/// backup.verify.started and backup.verify.finished with phase timings.
class VerifyBackupAction final : public Action {
 public:
  nlohmann::json run(ActionContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
