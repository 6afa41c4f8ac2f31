#include "harness/services/postgres_front.hpp"

#include "harness/services/backend_login.hpp"
#include "harness/services/connection_string.hpp"

namespace firedrill {

std::string PostgresFrontService::harness_conninfo(const ContainerInfo& info) const {
  const BackendLogin login = backend_login(spec_);
  std::vector<std::pair<std::string, std::string>> fields = {{"host", "127.0.0.1"},
                                                             {"port", std::to_string(info.host_ports.at(front_.port))},
                                                             {"user", login.user},
                                                             {"password", login.password},
                                                             {"dbname", login.database},
                                                             {"connect_timeout", "2"}};
  fields.insert(fields.end(), front_.extra_conninfo.begin(), front_.extra_conninfo.end());
  return conninfo(fields);
}

ProbeConfig PostgresFrontService::readiness_probe(const ContainerInfo& info) const {
  ProbeConfig probe = readiness_probe_of("sql", front_.ready_timeout);
  probe.conninfo = harness_conninfo(info);
  return probe;
}

std::vector<std::string> PostgresFrontService::secrets() const { return {backend_login(spec_).password}; }

}  // namespace firedrill
