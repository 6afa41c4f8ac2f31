#include "injectors/proxy/fault_proxy.hpp"

#include <gtest/gtest.h>

namespace firedrill {
namespace {

TEST(FaultProxy, RefusesUpstreamsOutsideTheDrillNetworks) {
  EXPECT_THROW(FaultProxy("127.0.0.1", 0, "0.0.0.0", 80), std::invalid_argument);
}

}  // namespace
}  // namespace firedrill
