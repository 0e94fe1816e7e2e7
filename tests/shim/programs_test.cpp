// Real programs under the shim (filled in next).
#include <gtest/gtest.h>
