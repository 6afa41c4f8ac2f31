#include "harness/services/service.hpp"

#include <openssl/rand.h>

#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "clients/transport.hpp"
#include "harness/services/connection_string.hpp"

namespace firedrill {

ProbeConfig Service::readiness_probe_of(std::string type, std::chrono::milliseconds timeout) const {
  ProbeConfig probe;
  probe.name = spec_.name + "-ready";
  probe.type = std::move(type);
  probe.service = spec_.name;
  probe.timeout = timeout;
  return probe;
}

ContainerSpec Service::container_spec(const std::function<std::string(const std::string&)>& resolve) const {
  ContainerSpec container;
  container.service = spec_.name;
  container.image = spec_.image.empty() ? default_image() : spec_.image;
  auto environment = kind_environment();
  for (const auto& [key, value] : spec_.env) environment[key] = value;
  for (const auto& [key, value] : environment) container.env.push_back(key + "=" + resolve(value));
  for (const auto& argument : spec_.command) container.command.push_back(resolve(argument));
  if (container_port() > 0) container.ports.push_back(container_port());
  container.aliases.push_back(spec_.name);
  for (std::size_t i = 0; i < spec_.volumes.size(); ++i) {
    const auto& volume = spec_.volumes[i];
    auto colon = volume.find(':');
    std::string path = colon == std::string::npos ? volume : volume.substr(colon + 1);
    container.volumes.push_back({fmt::format("{}", i), path});
  }
  if (spec_.disk && !data_directory().empty()) container.size_limited = SizeLimitedMount{data_directory(), *spec_.disk};
  return container;
}

WriterConfig Service::workload_writer(const ContainerInfo& info, const std::optional<SentinelGroup>& sentinel) const {
  WriterConfig writer;
  // A sql writer connects by conninfo alone, which a Patroni cluster builds from its members.
  if (auto port = info.host_ports.find(container_port()); port != info.host_ports.end()) writer.port = port->second;
  writer.conninfo = harness_conninfo(info);
  writer.sentinel = sentinel;
  writer.password = harness_password();
  return writer;
}

std::optional<std::string> Service::reference(const std::string& field, const std::string& host, int port) const {
  if (field == "url") return url_at(host, port);
  if (field == "host") return host;
  if (field == "port") return std::to_string(port);
  if (speaks_postgres()) return postgres_url_field(url_at(host, port), field);
  return std::nullopt;
}

bool Service::speaks_postgres() const { return url_in_network().starts_with("postgresql://"); }

std::optional<WriteRequestSpec> Service::implied_write(const std::string& writer) const {
  if (speaks_postgres()) return firedrill_writes_insert(writer);
  return std::nullopt;
}

std::optional<ReadBackSpec> Service::implied_read_back(const std::string& writer) const {
  if (speaks_postgres()) return firedrill_writes_select(writer);
  return std::nullopt;
}

std::string Service::url_at(const std::string& host, int port) const { return fmt::format("tcp://{}:{}", host, port); }

void Service::wait_ready(Runtime& runtime, const ContainerInfo& info, std::chrono::milliseconds timeout) const {
  ProbeConfig probe = readiness_probe(info);
  std::string last_error;
  // Nothing restarts a service that exited while it started: once it has stayed down for longer
  // than an inspection's hiccup, its logs say why and waiting out the timeout would not help.
  constexpr auto exited_for_good = std::chrono::seconds(2);
  std::optional<std::chrono::steady_clock::time_point> down_since;
  bool exited = false;
  bool ready = poll_until(
      [&](std::string& error) {
        if (!runtime.is_running(spec_.name)) {
          error = "the container is not running";
          const auto now = std::chrono::steady_clock::now();
          if (!down_since) down_since = now;
          exited = now - *down_since >= exited_for_good;
          return exited;
        }
        down_since.reset();
        if (!ready_precondition(runtime, error)) return false;
        if (!probe.type.empty()) {
          auto answer = probe_once(probe);
          error = answer.error;
          if (!answer.ok) return false;
        }
        return ready_command_succeeds(runtime, error);
      },
      timeout, last_error);
  if (exited)
    throw EnvironmentError(fmt::format("service '{}' ({}) exited before it became ready\nlast log lines:\n{}", spec_.name,
                                       spec_.kind, runtime.recent_logs(spec_.name, 10)));
  if (!ready)
    throw EnvironmentError(fmt::format("service '{}' ({}) never became ready within {}s: {}\nlast log lines:\n{}",
                                       spec_.name, spec_.kind, timeout.count() / 1000, last_error,
                                       runtime.recent_logs(spec_.name, 10)));
}

bool Service::ready_command_succeeds(Runtime& runtime, std::string& error) const {
  if (spec_.ready_command.empty()) return true;
  const ExecResult result = runtime.exec(spec_.name, {"/bin/sh", "-c", spec_.ready_command}, std::chrono::seconds(10));
  if (result.exit_code == 0) return true;
  error = fmt::format("ready_command exited {}: {}", result.exit_code, first_line(result.output));
  return false;
}

std::string random_secret() {
  unsigned char bytes[18];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw EnvironmentError("cannot generate a password: the random source failed");
  std::string text;
  for (unsigned char byte : bytes) text += fmt::format("{:02x}", byte);
  return text;
}

bool poll_until(const std::function<bool(std::string& last_error)>& attempt, std::chrono::milliseconds timeout,
                std::string& last_error) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (attempt(last_error)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace firedrill
