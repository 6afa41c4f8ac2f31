#include "injectors/pause.hpp"

namespace firedrill {
namespace {

class PausedService final : public ActiveFault {
 public:
  PausedService(FaultContext& context, std::string service, std::string journal_id)
      : context_(context), service_(std::move(service)), journal_id_(std::move(journal_id)) {}

  void revert() override {
    if (journal_id_.empty()) return;
    context_.runtime.unpause(service_);
    context_.mark_reverted(journal_id_);
    journal_id_.clear();
  }

  nlohmann::json describe() const override { return nlohmann::json::object(); }

 private:
  FaultContext& context_;
  std::string service_;
  std::string journal_id_;
};

}  // namespace

VerbSpec PauseInjector::spec() {
  return {"pause", "Freeze the target's processes; `duration` resumes them after that long.", true, {}};
}

std::unique_ptr<ActiveFault> PauseInjector::inject(FaultContext& context, const StepSpec& step) {
  auto journal_id = context.journal_inverse({{"type", "unpause"}, {"service", step.target}});
  context.runtime.pause(step.target);
  return std::make_unique<PausedService>(context, step.target, journal_id);
}

}  // namespace firedrill
