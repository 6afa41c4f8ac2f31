// Leaks LeakSanitizer reports that are a library's own, not firedrill's. Compiled into every
// executable of a build with AddressSanitizer (cmake/sanitizers.cmake); LeakSanitizer asks for
// this list by the function's name.
//
// libpqxx 6.4 (Debian bookworm's): when BEGIN fails because the connection just broke ("Could
// not obtain client encoding: not connected"), transaction_base::Begin loses the PGresult of its
// direct_exec. One result per broken connection, inside the library; the fixture app's
// OrderStore test breaks connections on purpose. Matched by the library's name: the fast
// unwinder stops inside libpq and libpqxx (built without frame pointers) before any function
// name, and firedrill hands libpqxx no raw PGresult whose leak this could hide.
extern "C" const char* __lsan_default_suppressions() {  // NOLINT(bugprone-reserved-identifier)
  return "leak:libpqxx-6.4.so\n";
}
