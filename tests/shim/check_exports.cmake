# Checks the symbol hygiene of libbindguard.so (run with cmake -P):
#  - `nm -D --defined-only` lists exactly the global symbols of shim/exports.map,
#  - no C++ (_Z) symbol is exported,
#  - the library needs nothing but libc (the C++ runtime is linked statically, libm's
#    rounding-mode functions are stood in by shim/fenv_stub.cpp); a sanitizer build
#    (SANITIZE true) also needs its sanitizer runtimes and the libm they bring.
# Variables: LIBRARY, EXPORTS_MAP, NM, READELF, SANITIZE.
file(READ ${EXPORTS_MAP} map)
string(REGEX REPLACE "/\\*[^*]*\\*+([^/*][^*]*\\*+)*/" "" map "${map}")  # drop comments
string(REGEX MATCH "global:([^}]*)local:" globals "${map}")
string(REGEX MATCHALL "[A-Za-z_][A-Za-z0-9_]*;" expected "${CMAKE_MATCH_1}")
list(TRANSFORM expected REPLACE ";" "")
list(SORT expected)

execute_process(COMMAND ${NM} -D --defined-only ${LIBRARY} OUTPUT_VARIABLE nm_out RESULT_VARIABLE nm_status)
if(NOT nm_status EQUAL 0)
  message(FATAL_ERROR "nm failed on ${LIBRARY}")
endif()
string(REGEX MATCHALL "[^\n]+" nm_lines "${nm_out}")
set(actual)
foreach(line IN LISTS nm_lines)
  string(REGEX MATCH "[^ ]+$" symbol "${line}")
  string(REGEX REPLACE "@.*" "" symbol "${symbol}")
  list(APPEND actual ${symbol})
endforeach()
list(SORT actual)
if(NOT actual STREQUAL expected)
  message(FATAL_ERROR "exported symbols: ${actual}\nexpected (shim/exports.map): ${expected}")
endif()
foreach(symbol IN LISTS actual)
  if(symbol MATCHES "^_Z")
    message(FATAL_ERROR "C++ symbol exported: ${symbol}")
  endif()
endforeach()

execute_process(COMMAND ${READELF} -d ${LIBRARY} OUTPUT_VARIABLE dynamic)
string(REGEX MATCHALL "Shared library: \\[[^]]+\\]" needed "${dynamic}")
set(allowed "libc\\.so\\.6|ld-linux[^]]*")
if(SANITIZE)
  string(APPEND allowed "|libasan\\.so[^]]*|libubsan\\.so[^]]*|libm\\.so\\.6")
endif()
foreach(entry IN LISTS needed)
  if(NOT entry MATCHES "\\[(${allowed})\\]$")
    message(FATAL_ERROR "libbindguard.so must need nothing but libc: ${entry}")
  endif()
endforeach()
message(STATUS "exports: ${actual}; needed: ${needed}")

# Nothing of the C++ runtime's exception machinery (its emergency pool is allocated at
# every load) and no TOML parser: the library reads compiled images only.
execute_process(COMMAND ${NM} -C ${LIBRARY} OUTPUT_VARIABLE all_symbols)
foreach(forbidden "emergency_pool" "__gxx_personality_v0" "__cxa_allocate_exception" "toml::")
  string(FIND "${all_symbols}" "${forbidden}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "libbindguard.so contains ${forbidden}: the library must not link the C++ exception runtime nor a TOML parser")
  endif()
endforeach()
