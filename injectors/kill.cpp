#include "injectors/kill.hpp"

namespace firedrill {
namespace {

class KilledService final : public ActiveFault {
 public:
  KilledService(FaultContext& context, std::string service, std::string signal, std::string journal_id)
      : context_(context), service_(std::move(service)), signal_(std::move(signal)), journal_id_(std::move(journal_id)) {}

  void revert() override {
    if (journal_id_.empty()) return;  // nothing to undo: recovery is the runbook's job
    if (!context_.runtime.is_running(service_)) context_.runtime.start_again(service_);
    context_.mark_reverted(journal_id_);
    journal_id_.clear();
  }

  nlohmann::json describe() const override { return {{"signal", signal_}}; }

 private:
  FaultContext& context_;
  std::string service_;
  std::string signal_;
  std::string journal_id_;
};

}  // namespace

VerbSpec KillInjector::spec() {
  return {"kill",
          "Send a signal to the target's main process (the container stops unless it handles it).",
          true,
          {{"signal", ParamType::string, false, "signal name, default KILL (TERM, INT, HUP, ...)"},
           {"restart_after", ParamType::duration, false, "start the container again after this long"}}};
}

std::optional<Duration> KillInjector::revert_after(const StepSpec& step) const {
  auto restart_after = step.params.find("restart_after");
  if (restart_after == step.params.end()) return std::nullopt;
  return restart_after->second.duration;
}

std::unique_ptr<ActiveFault> KillInjector::inject(FaultContext& context, const StepSpec& step) {
  auto configured = step.params.find("signal");
  std::string signal = configured == step.params.end() ? "KILL" : configured->second.text;
  std::string journal_id;
  if (step.params.count("restart_after"))
    journal_id = context.journal_inverse({{"type", "start"}, {"service", step.target}});
  context.runtime.kill(step.target, signal);
  return std::make_unique<KilledService>(context, step.target, signal, journal_id);
}

}  // namespace firedrill
