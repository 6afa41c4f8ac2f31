// The kill step's `via`: the engine is the only route a scenario may force; anything else is
// refused when the scenario is checked, naming the step.
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>

#include "injectors/kill.hpp"

namespace firedrill {
namespace {

StepSpec kill_step(const std::string& via) {
  StepSpec step;
  step.name = "die";
  step.what = "kill";
  step.target = "cache";
  if (!via.empty()) {
    ParamValue value;
    value.text = via;
    step.params["via"] = value;
  }
  return step;
}

TEST(KillInjector, OnlyTheEngineMayBeForcedAsTheRoute) {
  EXPECT_NO_THROW(KillInjector::check_params(kill_step("")));
  EXPECT_NO_THROW(KillInjector::check_params(kill_step("engine")));
  try {
    KillInjector::check_params(kill_step("sidecar"));
    ADD_FAILURE() << "via: sidecar was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "step 'die': kill 'via' can only be engine, not 'sidecar'");
  }
  const auto params = KillInjector::spec().params;
  EXPECT_NE(std::find_if(params.begin(), params.end(), [](const ParamSpec& param) { return param.name == "via"; }),
            params.end());
}

}  // namespace
}  // namespace firedrill
