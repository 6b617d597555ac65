// The C API suite compiled as C++17 (see suite.h), plus the C++17 wrapper's tests.
#include "suite.h"
#include "wrapper.hpp"

int main() {
    int rc = run_suite("C++17");
    rc |= run_wrapper_tests();
    return rc;
}
