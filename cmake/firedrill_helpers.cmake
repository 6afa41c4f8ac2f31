# firedrill_library(NAME): the static library of one top-level folder, aliased firedrill::NAME.
function(firedrill_library name)
  add_library(firedrill_${name} STATIC)
  add_library(firedrill::${name} ALIAS firedrill_${name})
  target_include_directories(firedrill_${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}> $<INSTALL_INTERFACE:include>)
  target_compile_features(firedrill_${name} PUBLIC cxx_std_20)
  firedrill_warnings(firedrill_${name})
  # The headers (nlohmann/json, fmt, the standard library) are parsed, and their templates
  # instantiated and optimised, once per batch rather than once per file. So a name in a source
  # file's anonymous namespace must be unique within its library (a duplicate is shared instead).
  if(FIREDRILL_UNITY_BUILD)
    set_target_properties(firedrill_${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  endif()
endfunction()

function(firedrill_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
  if(FIREDRILL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# firedrill_unit_test(NAME SOURCES... LIBS ...): a GoogleTest executable registered with CTest
# under the label `unit` (no engine, no servers). firedrill_integration_test: the same, labelled
# `integration` (real postgres, redis-server, Docker). One label each: CTest merges LABELS, so
# relabelling a test afterwards would leave it in both sets. Optional TEST_PREFIX puts a word
# before each test's name, so `ctest -R word` selects them.
function(firedrill_labelled_test label name)
  if(NOT FIREDRILL_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "TEST_PREFIX" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  firedrill_warnings(${name})
  gtest_discover_tests(${name} TEST_PREFIX "${T_TEST_PREFIX}" PROPERTIES LABELS ${label} DISCOVERY_TIMEOUT 30)
endfunction()

function(firedrill_unit_test name)
  firedrill_labelled_test(unit ${name} ${ARGN})
endfunction()

function(firedrill_integration_test name)
  firedrill_labelled_test(integration ${name} ${ARGN})
endfunction()

# Calls `command` with each target defined in `dir` and the folders below it.
function(firedrill_for_each_target dir command)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    cmake_language(CALL ${command} ${target})
  endforeach()
  get_property(folders DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(folder IN LISTS folders)
    firedrill_for_each_target("${folder}" ${command})
  endforeach()
endfunction()

# Test executables (and their support libraries) are compiled without optimisation: what they
# test is the libraries, built as the build type says, while their own code runs once and costs
# compile time only (-O2 doubles it, -O1 adds a sixth). For every target named *_test,
# firedrill_test_* and firedrill_local_servers.
function(firedrill_optimise_test_lightly target)
  if(target MATCHES "_test$|^firedrill_test_|^firedrill_local_servers$")
    target_compile_options(${target} PRIVATE $<$<CONFIG:Release,RelWithDebInfo>:-O0>)
  endif()
endfunction()

# The headers every test compiles (GoogleTest, nlohmann/json, fmt, the standard library's
# heaviest) are parsed once, into firedrill_test_pch's precompiled header, which every test
# target reuses: a third of a test file's compile time. The test targets share its flags (-O1,
# the warnings); were one to differ, GCC would parse the headers as text, never miscompile.
function(firedrill_add_test_pch)
  if(NOT FIREDRILL_BUILD_TESTS)
    return()
  endif()
  file(WRITE "${PROJECT_BINARY_DIR}/firedrill_test_pch.cpp" "// The translation unit of the tests' shared precompiled header.\n")
  add_library(firedrill_test_pch STATIC "${PROJECT_BINARY_DIR}/firedrill_test_pch.cpp")
  target_link_libraries(firedrill_test_pch PRIVATE GTest::gtest GTest::gmock nlohmann_json::nlohmann_json fmt::fmt)
  target_precompile_headers(firedrill_test_pch PRIVATE
    <gtest/gtest.h> <gmock/gmock.h> <nlohmann/json.hpp> <fmt/format.h>
    <algorithm> <chrono> <filesystem> <fstream> <functional> <map> <optional> <set> <string> <thread> <vector>)
  firedrill_warnings(firedrill_test_pch)
endfunction()

function(firedrill_reuse_test_pch target)
  if(TARGET firedrill_test_pch AND NOT target STREQUAL "firedrill_test_pch"
     AND target MATCHES "_test$|^firedrill_test_command$")
    target_precompile_headers(${target} REUSE_FROM firedrill_test_pch)
  endif()
endfunction()

# firedrill_library_sources(NAME DIRS...): every .cpp of those folders (relative to the calling
# CMakeLists.txt; `.` for its own) but the tests (*_test.cpp) is a source of firedrill_NAME. The
# libraries that are extension points (faults, actions, checks, report formats, service kinds)
# take their sources this way, so an extension is its file and its registration line, with no
# list to extend here. CONFIGURE_DEPENDS: a new file is seen by the next build without a
# configure by hand. Sorted, so the unity batches are the same on every machine.
function(firedrill_library_sources name)
  set(patterns)
  foreach(dir IN LISTS ARGN)
    cmake_path(ABSOLUTE_PATH dir BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE OUTPUT_VARIABLE folder)
    list(APPEND patterns "${folder}/*.cpp")
  endforeach()
  file(GLOB sources CONFIGURE_DEPENDS ${patterns})
  list(FILTER sources EXCLUDE REGEX "_test\\.cpp$")
  list(SORT sources)
  target_sources(firedrill_${name} PRIVATE ${sources})
endfunction()
