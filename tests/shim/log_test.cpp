// Log formats, sinks and the rate limit of the shim (filled in next).
#include <gtest/gtest.h>
