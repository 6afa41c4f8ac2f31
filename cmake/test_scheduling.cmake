# Included by ctest after the tests of a folder are discovered (TEST_INCLUDE_FILES of tests/ and
# harness/runtime/):
# what may not run beside other tests when ctest runs them in parallel (-j, the README's test
# command). Drills mostly wait on servers, so they share the machine well; these do not:
#  - the calibration drills and the write-latency windows, whose bounds are 20 ms: alone, so
#    what they measure is the fault, not a neighbour's load;
#  - the Patroni leader loss, whose app follows the new leader within seconds on a quiet machine
#    and took 5.5 s beside three restore drills (the scenario's overall target is 20 s), alone
#    and behind HAProxy;
#  - four drills at once (`run --parallel 4`), a load of its own;
#  - `cleanup --all`, which removes what a killed neighbour's test still means to list;
#  - the tests that `kill -9` the harness and then list what its run left, or reap a run whose
#    owner they made dead: a drill starting beside them would reap that run first (`run`
#    removes what dead runs left behind);
#  - the check that no process-runtime run left a process or a zombie: after the whole group.
set(firedrill_alone_patterns
  "^DrillTest\\.Calibration" "^process\\.ProcessDrill\\.Calibration" "^DrillTest\\.AFreezeOf" "^DrillTest\\.Latency" "^DrillTest\\.PacketLoss"
  "^parallel\\." "^patroni\\.PatroniDrill\\." "^tiers\\.TierDrill\\.HAProxy" "^security\\..*CleanupAll"
  "^DrillTest\\.KillNine" "KillNineTest\\." "^process\\..*KillNine" "^signing\\." "^DockerCleanup\\.Reaper")
foreach(group drill_integration_test parallel_integration_test security_integration_test kill_nine_test
        sign_kill_test process_runtime_integration_test docker_runtime_test patroni_integration_test
        tiers_integration_test)
  foreach(test IN LISTS ${group}_TESTS)
    foreach(pattern IN LISTS firedrill_alone_patterns)
      if(test MATCHES "${pattern}")
        set_tests_properties("${test}" PROPERTIES RUN_SERIAL TRUE)
      endif()
    endforeach()
  endforeach()
endforeach()

# The restore drills (base backups, pgBackRest, PITR, a rebuilt environment, Redis from its RDB)
# each keep a core busy restoring while the workload writes; two at once on two cores missed
# their RTO targets (76 s for 60 s). One at a time, beside lighter tests; the drills of these
# folders that restore nothing (a refused target, an interrupt, DNS, bandwidth) run freely.
foreach(group dr_integration_test library_integration_test)
  foreach(test IN LISTS ${group}_TESTS)
    if(test MATCHES "^(dr\\.DrDrill|library\\.LibraryDrill)\\." AND NOT test MATCHES "Refused|Interrupt|Dns|Bandwidth|BackupValidation")
      set_tests_properties("${test}" PROPERTIES RESOURCE_LOCK firedrill_restore_drill)
    endif()
  endforeach()
endforeach()

set(firedrill_process_group ${process_runtime_integration_test_TESTS})
list(FILTER firedrill_process_group EXCLUDE REGEX "AfterTheGroup")
foreach(test IN LISTS process_runtime_integration_test_TESTS)
  if(test MATCHES "AfterTheGroup")
    set_tests_properties("${test}" PROPERTIES DEPENDS "${firedrill_process_group}" RUN_SERIAL TRUE)
  endif()
endforeach()
