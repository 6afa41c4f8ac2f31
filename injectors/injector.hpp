#pragma once
// A fault: something that breaks the system and can be reverted. One file per fault, one line in
// registry.cpp. Injecting journals the inverse first (write-ahead), so a harness that dies with
// the fault active can still revert it with `firedrill cleanup`.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model.hpp"
#include "core/vocabulary.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

/// How long one command a fault runs in its target (or the target's network sidecar) may take.
inline constexpr std::chrono::seconds fault_exec_timeout{15};

class EventLog;
class FaultProxy;

/// Whether the run's network faults act on the fault proxies the engine places between services
/// (its runtime cannot enter the services' network namespaces: they share this machine's) rather
/// than as rules inside those namespaces.
inline bool takes_network_faults_on_proxies(Runtime& runtime) { return runtime.capability<NetworkNamespaces>() == nullptr; }

/// What an injector may touch while it runs.
struct FaultContext {
  Runtime& runtime;
  EventLog& events;
  /// Writes the inverse of a fault to the run's journal before the fault is applied; returns the
  /// journal entry's id, later passed to `mark_reverted`.
  std::function<std::string(const nlohmann::json& inverse)> journal_inverse;
  std::function<void(const std::string& entry_id)> mark_reverted;
  /// The run's directory (<out>/<run-id>); its backups/ folder is the run's backup repository.
  std::filesystem::path run_directory = {};
  /// The fault proxy the engine placed on the path from `client` to `peer` at bring-up (see
  /// latency.hpp), or nullptr when that path has none.
  std::function<FaultProxy*(const std::string& client, const std::string& peer)> proxy_between = {};
  /// Every (client, peer) path that runs through such a proxy.
  std::function<std::vector<NetworkPath>()> proxied_paths = {};
};

/// An applied fault. revert() is idempotent; the destructor does not revert (the engine decides
/// when, and teardown reverts whatever is still active, in reverse order).
class ActiveFault {
 public:
  virtual ~ActiveFault() = default;
  /// Undoes the fault. Safe to call twice.
  virtual void revert() = 0;
  /// A description for the report's `faults` entry (parameters, what changed).
  virtual nlohmann::json describe() const = 0;
};

/// When a fault takes effect relative to the injector's call: a signal is delivered as the
/// request is made (the engine then waits for the process to die), a freeze only once the
/// engine reports it done. T0 of an incident is stamped accordingly.
enum class TakesEffect { when_requested, when_returned };

/// An applied fault whose inverse was journalled: revert() undoes it once, then marks the journal
/// entry reverted. Without a journal entry there is nothing to undo (a kill with no restart:
/// bringing the service back is the runbook's job).
class JournalledFault final : public ActiveFault {
 public:
  JournalledFault(FaultContext& context, std::string journal_id, std::function<void()> undo,
                  nlohmann::json description = nlohmann::json::object())
      : context_(context), journal_id_(std::move(journal_id)), undo_(std::move(undo)), description_(std::move(description)) {}

  void revert() override {
    if (journal_id_.empty()) return;
    undo_();
    context_.mark_reverted(journal_id_);
    journal_id_.clear();
  }
  nlohmann::json describe() const override { return description_; }

 private:
  FaultContext& context_;
  std::string journal_id_;
  std::function<void()> undo_;
  nlohmann::json description_;
};

/// The step's parameter `name` as a whole number of 0 or more (a seed, a count); nullopt when the
/// step does not give it. Throws std::invalid_argument naming the step, the fault and the text.
inline std::optional<std::uint64_t> whole_number_param(const StepSpec& step, const std::string& name) {
  auto found = step.params.find(name);
  if (found == step.params.end()) return std::nullopt;
  const std::string& text = found->second.text;
  std::uint64_t value = 0;
  std::size_t used = 0;
  try {
    if (!text.empty() && text.front() != '-') value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw std::invalid_argument("step '" + step.name + "': " + step.what + " '" + name +
                                "' must be a whole number of 0 or more (got '" + text + "')");
  return value;
}

/// The undo of a fault that stopped a service: start it again unless something already did.
inline std::function<void()> start_again_if_stopped(Runtime& runtime, const std::string& service) {
  return [&runtime, service] {
    if (!runtime.is_running(service)) process_control(runtime).start_again(service);
  };
}

class Injector {
 public:
  virtual ~Injector() = default;
  virtual TakesEffect takes_effect() const { return TakesEffect::when_returned; }
  /// Applies the fault to step.target and returns once it has taken effect.
  virtual std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) = 0;
  /// When the engine reverts the fault by itself; nothing means at teardown (or a later step).
  virtual std::optional<Duration> revert_after(const StepSpec& step) const { return step.duration; }
};

/// A step that ends faults applied by earlier steps (`resume` a pause, `heal` a partition)
/// rather than causing one: the engine reverts the still-active faults of these types whose
/// targets include the step's target (every one of them when the step names none).
class EndsFaults {
 public:
  virtual ~EndsFaults() = default;
  virtual std::vector<std::string> fault_types() const = 0;
};

/// Reverts a fault from its journalled inverse, with no Injector or ActiveFault alive (used by
/// `firedrill cleanup` after the owner died). Unknown inverses are reported, not thrown.
using InverseReverter = std::function<void(Runtime& runtime, const nlohmann::json& inverse)>;

}  // namespace firedrill
