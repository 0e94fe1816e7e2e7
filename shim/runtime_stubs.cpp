// Local definitions that keep parts of the statically linked C++ runtime out of
// the library, or stop the dynamic loader from looking them up at each process
// start. Neither is exported (exports.map); each only concerns the library's own
// copy of the runtime, never the host's.
#include <cstdlib>
#include <exception>

// The runtime leaves __cxa_pure_virtual as an undefined weak symbol, which the
// loader then looks up in every loaded object at each start (41 relocations, one
// per pure virtual slot of the runtime's vtables). It is called only through a
// pure virtual slot, which a correct program never reaches; the runtime's own
// definition aborts as well.
extern "C" void __cxa_pure_virtual() { std::abort(); }

// The runtime's default terminate handler is the verbose one, which prints the
// exception's demangled type and so brings in the demangler (about 50 KiB and 220
// relocations applied at each start). Nothing in the library can reach
// std::terminate (every exported function is noexcept, initialisation catches
// everything); should it ever, this aborts just the same, without the message.
namespace __cxxabiv1 {
std::terminate_handler __terminate_handler = std::abort;
}
