# FIREDRILL_SANITIZE=address,undefined instruments every target of the build. A UBSan finding
# stops the program (-fno-sanitize-recover), so a test that triggers one fails instead of
# printing a line nobody reads.
if(FIREDRILL_SANITIZE)
  add_compile_options(-fsanitize=${FIREDRILL_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${FIREDRILL_SANITIZE})
  if(FIREDRILL_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
  # GCC 12's flow analysis sees the sanitizers' checks as paths on which libstdc++'s own members
  # (std::regex's std::function states) are uninitialised: false positives, under -Werror fatal.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()

# FIREDRILL_FUZZ: the libraries get libFuzzer's coverage instrumentation (without its main), so
# the fuzz targets of tests/fuzz see which branches of the product code an input reached.
if(FIREDRILL_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FIREDRILL_FUZZ needs clang (libFuzzer): configure with CXX=clang++-14")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# LeakSanitizer's list of leaks that are the libraries' own (tests/sanitizers/lsan_suppressions.cpp),
# compiled into every executable of a build with AddressSanitizer.
function(firedrill_suppress_library_leaks target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests/sanitizers/lsan_suppressions.cpp)
  endif()
endfunction()
