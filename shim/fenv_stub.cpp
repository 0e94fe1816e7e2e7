// The static C++ runtime's floating std::from_chars saves and restores the rounding
// mode around strtod (fegetround/fesetround, which live in libm). The policy format has
// no floating-point values (any float is an error), so the exact rounding of a parsed
// float never matters here: these local stand-ins keep libm.so.6 out of the library's
// dependencies (one library less to load in every C host). Not exported (exports.map).
#include <fenv.h>

extern "C" int fegetround() noexcept { return FE_TONEAREST; }
extern "C" int fesetround(int mode) noexcept { return mode == FE_TONEAREST ? 0 : -1; }
