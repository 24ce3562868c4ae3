// Catch2 v2 main for the bidsim test executable, compiled once in its own translation unit
// (it takes ~16 s; keeping it apart means editing a test file never recompiles it).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
