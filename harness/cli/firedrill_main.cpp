#include "harness/cli/firedrill_main.hpp"

namespace firedrill {

int firedrill_main(int, char**) { return 0; }

}  // namespace firedrill
