#include "harness/cli/firedrill_main.hpp"

int main(int argc, char** argv) { return firedrill::firedrill_main(argc, argv); }
