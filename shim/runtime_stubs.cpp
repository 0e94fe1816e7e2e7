// Local definitions that the statically linked C++ runtime would otherwise leave
// as undefined weak symbols, which the dynamic loader then looks up in every
// loaded object at each process start (41 relocations for __cxa_pure_virtual
// alone, one per pure virtual slot of the runtime's vtables). Not exported
// (exports.map).
#include <cstdlib>

// Called only through a vtable slot of a pure virtual function, which a correct
// program never reaches; the C++ runtime's own definition aborts as well.
extern "C" void __cxa_pure_virtual() { std::abort(); }
