/* The C API suite compiled as C11 (see suite.h). */
#include "suite.h"

int main(void) { return run_suite("C11"); }
