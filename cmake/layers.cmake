# The layers are the libraries: one per folder, each linking only the ones below it. This writes
# what CMake knows of them (each library's folders and the libraries it links) to
# <build>/layers.json, and registers the test that holds the sources to it
# (cmake/check_layers.py): no file includes a header of a library its own does not link, no two
# files include each other's headers, no library links back up, and the measurement links no
# client library.
set(firedrill_layers core checks clients runtime services injectors actions scenario reports attestation rehearse
    engine cli)

function(firedrill_write_layers file)
  set(json "{}")
  foreach(layer IN LISTS firedrill_layers)
    get_target_property(sources firedrill_${layer} SOURCES)
    get_target_property(source_dir firedrill_${layer} SOURCE_DIR)
    get_target_property(links firedrill_${layer} LINK_LIBRARIES)
    set(folders "[]")
    set(seen "")
    foreach(source IN LISTS sources)
      cmake_path(ABSOLUTE_PATH source BASE_DIRECTORY "${source_dir}" OUTPUT_VARIABLE absolute)
      cmake_path(GET absolute PARENT_PATH folder)
      cmake_path(RELATIVE_PATH folder BASE_DIRECTORY "${PROJECT_SOURCE_DIR}")
      if(NOT folder IN_LIST seen)
        list(APPEND seen "${folder}")
        string(JSON index LENGTH "${folders}")
        string(JSON folders SET "${folders}" ${index} "\"${folder}\"")
      endif()
    endforeach()
    set(linked "[]")
    foreach(link IN LISTS links)
      string(JSON index LENGTH "${linked}")
      string(JSON linked SET "${linked}" ${index} "\"${link}\"")
    endforeach()
    string(JSON json SET "${json}" "${layer}" "{\"folders\": ${folders}, \"links\": ${linked}}")
  endforeach()
  file(WRITE "${file}" "${json}\n")
endfunction()

firedrill_write_layers("${PROJECT_BINARY_DIR}/layers.json")
if(FIREDRILL_BUILD_TESTS)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  add_test(NAME layers.NoUpwardIncludeNoCircleNoClientBelowTheMeasurement
           COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/cmake/check_layers.py
                   --source-dir ${PROJECT_SOURCE_DIR} --layers ${PROJECT_BINARY_DIR}/layers.json)
  set_tests_properties(layers.NoUpwardIncludeNoCircleNoClientBelowTheMeasurement PROPERTIES LABELS unit)
endif()
