# The `fuzz` label: each target of tests/fuzz for 10 s from its committed corpus, under ASan and
# UBSan. New inputs go to a scratch directory given first (libFuzzer writes only to its first
# corpus directory), so the repository never changes. Included by tests/CMakeLists.txt; the
# binaries come from this tree when it builds them (FIREDRILL_FUZZ), else from
# FIREDRILL_FUZZ_BINARY_DIR, the tree ci/setup builds them in.
set(FIREDRILL_FUZZ_BINARY_DIR "${CMAKE_BINARY_DIR}-fuzz" CACHE PATH
  "Build tree holding the fuzz targets (configured with FIREDRILL_FUZZ=ON) for the `fuzz` tests")
set(FIREDRILL_FUZZ_SECONDS 10 CACHE STRING "How long each `fuzz` test runs its target")
set(fuzz_corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus)
set(scenario_corpora ${fuzz_corpus}/scenario ${PROJECT_SOURCE_DIR}/tests/malformed/cases ${PROJECT_SOURCE_DIR}/scenarios)
# The first test of the label (fuzz.build, a fixture the others require) brings the other tree's
# targets up to date, so a target is never run stale; after ci/setup it has nothing to do.
set(fuzz_fixture)
if(NOT FIREDRILL_FUZZ)
  add_test(NAME fuzz.build COMMAND ${PROJECT_SOURCE_DIR}/tests/fuzz/build_targets ${FIREDRILL_FUZZ_BINARY_DIR})
  set_tests_properties(fuzz.build PROPERTIES LABELS fuzz TIMEOUT 1800 SKIP_RETURN_CODE 77 FIXTURES_SETUP fuzz_targets)
  set(fuzz_fixture FIXTURES_REQUIRED fuzz_targets)
endif()
foreach(name scenario scalars envelope journal engine proxy)
  if(FIREDRILL_FUZZ)
    set(binary $<TARGET_FILE:${name}_fuzz>)
  else()
    set(binary ${FIREDRILL_FUZZ_BINARY_DIR}/tests/fuzz/${name}_fuzz)
  endif()
  set(corpora ${fuzz_corpus}/${name})
  if(DEFINED ${name}_corpora)
    set(corpora ${${name}_corpora})
  endif()
  add_test(NAME fuzz.${name}
    COMMAND ${PROJECT_SOURCE_DIR}/tests/fuzz/run ${binary} ${FIREDRILL_FUZZ_SECONDS}
      ${CMAKE_CURRENT_BINARY_DIR}/fuzz-artifacts ${corpora})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 120 SKIP_RETURN_CODE 77 ${fuzz_fixture})
endforeach()
