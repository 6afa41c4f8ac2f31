# FIREDRILL_SANITIZE=address,undefined instruments every target of the build. A UBSan finding
# stops the program (-fno-sanitize-recover), so a test that triggers one fails instead of
# printing a line nobody reads.
if(FIREDRILL_SANITIZE)
  add_compile_options(-fsanitize=${FIREDRILL_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${FIREDRILL_SANITIZE})
  if(FIREDRILL_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
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
