#include "harness/rehearse/commands.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill {
namespace {

/// The keywords set in a libpq conninfo, by libpq's own parser: a value may be quoted and hold
/// spaces (an unparsable conninfo gives no fields).
std::map<std::string, std::string> parse_conninfo(const std::string& conninfo) {
  std::map<std::string, std::string> fields;
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  PQfreemem(error);
  if (options == nullptr) return fields;
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option)
    if (option->val != nullptr) fields[option->keyword] = option->val;
  PQconninfoFree(options);
  return fields;
}

std::string field_or(const std::map<std::string, std::string>& fields, const std::string& key, const std::string& fallback) {
  auto found = fields.find(key);
  return found == fields.end() ? fallback : found->second;
}

const ServiceAccess* find_service(const std::vector<ServiceAccess>& services, const std::string& name) {
  for (const auto& service : services)
    if (service.name == name) return &service;
  return nullptr;
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

/// `text` as one shell word: as it is when nothing in it is special to a shell, else quoted.
std::string shell_word(const std::string& text) {
  bool plain = !text.empty();
  for (unsigned char c : text) plain = plain && (std::isalnum(c) != 0 || c == '_' || c == '-' || c == '.');
  return plain ? text : shell_quote(text);
}

/// The services a step names, target first, without repeats.
std::vector<std::string> services_named(const StepSpec& step) {
  std::vector<std::string> names;
  auto add = [&](const std::string& name) {
    if (!name.empty() && name != "overall" && std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(name);
  };
  add(step.target);
  add(step.param_text("to"));
  // The name a repoint moves belongs to the service that failed: nothing to reach there.
  if (step.what != "repoint") add(step.param_text("service"));
  if (step.until) {
    add(step.until->healthy);
    add(step.until->service);
  }
  return names;
}

/// True where a container engine runs the services, so a person can open a shell in one.
bool has_containers(const std::string& engine_cli) { return !engine_cli.empty() && engine_cli != "process"; }

void access_commands(const ServiceAccess& service, const std::string& engine_cli, const std::filesystem::path& pgpass,
                     std::vector<std::string>& commands) {
  const bool containers = has_containers(engine_cli);
  if (service.kind == "postgres") {
    auto fields = parse_conninfo(service.conninfo);
    const std::string user = shell_word(field_or(fields, "user", "postgres"));
    const std::string database = shell_word(field_or(fields, "dbname", field_or(fields, "user", "postgres")));
    if (containers)
      commands.push_back(fmt::format("{} exec -it {} psql -U {} -d {}", engine_cli, service.container, user, database));
    if (service.host_port > 0)
      commands.push_back(fmt::format("PGPASSFILE={} psql -h 127.0.0.1 -p {} -U {} -d {}", pgpass.string(),
                                     service.host_port, user, database));
  } else if (service.kind == "redis") {
    if (containers) commands.push_back(fmt::format("{} exec -it {} redis-cli", engine_cli, service.container));
    if (service.host_port > 0 && service.password.empty())
      commands.push_back(fmt::format("redis-cli -h 127.0.0.1 -p {}", service.host_port));
    else if (service.host_port > 0)
      commands.push_back(fmt::format("REDISCLI_AUTH=\"$(cat {})\" redis-cli -h 127.0.0.1 -p {}",
                                     shell_word(redis_password_file(pgpass, service.name).string()), service.host_port));
  } else {
    if (containers) commands.push_back(fmt::format("{} exec -it {} sh", engine_cli, service.container));
    if (service.kind == "app" && service.host_port > 0)
      commands.push_back(fmt::format("curl -s http://127.0.0.1:{}/health", service.host_port));
  }
}

}  // namespace

std::string verdict_word(HumanVerdict verdict) {
  switch (verdict) {
    case HumanVerdict::done: return "person";
    case HumanVerdict::completed_by_itself: return "condition";
    case HumanVerdict::performed_by_firedrill: return "firedrill";
    case HumanVerdict::skipped: return "skipped";
    case HumanVerdict::aborted: return "aborted";
  }
  return "person";
}

std::string pgpass_line(const ServiceAccess& service) {
  if (service.kind != "postgres" || service.host_port <= 0) return {};
  auto fields = parse_conninfo(service.conninfo);
  auto escape = [](const std::string& text) {
    std::string escaped;
    for (char c : text) {
      if (c == ':' || c == '\\') escaped += '\\';
      escaped += c;
    }
    return escaped;
  };
  return fmt::format("127.0.0.1:{}:*:{}:{}", service.host_port, escape(field_or(fields, "user", "postgres")),
                     escape(field_or(fields, "password", "")));
}

namespace {

void write_private(const std::filesystem::path& file, const std::string& content) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot create {}: {}", file.string(), std::strerror(errno)));
  // The umask can only remove bits; psql refuses a password file that others may read.
  bool ok = ::fchmod(fd, 0600) == 0 && ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) throw std::runtime_error(fmt::format("cannot write {}", file.string()));
}

}  // namespace

std::filesystem::path redis_password_file(const std::filesystem::path& pgpass, const std::string& service) {
  return pgpass.parent_path() / fmt::format("rehearsal.{}.redis-password", service);
}

void write_pgpass(const std::filesystem::path& file, const std::vector<ServiceAccess>& services) {
  std::string content;
  for (const auto& service : services)
    if (auto line = pgpass_line(service); !line.empty()) content += line + "\n";
  write_private(file, content);
  for (const auto& service : services)
    if (service.kind == "redis" && !service.password.empty())
      write_private(redis_password_file(file, service.name), service.password);
}

void remove_rehearsal_password_files(const std::filesystem::path& run_directory) {
  std::error_code ignored;
  std::filesystem::remove(run_directory / "rehearsal.pgpass", ignored);
  for (const auto& entry : std::filesystem::directory_iterator(run_directory, ignored)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("rehearsal.") && name.ends_with(".redis-password")) std::filesystem::remove(entry.path(), ignored);
  }
}

std::vector<std::string> suggested_commands(const StepSpec& step, const std::string& engine_cli,
                                            const std::vector<ServiceAccess>& services,
                                            const std::filesystem::path& pgpass) {
  std::vector<std::string> commands;
  if (step.verb == StepVerb::action && step.what == "promote") {
    if (const ServiceAccess* standby = find_service(services, step.target)) {
      auto fields = parse_conninfo(standby->conninfo);
      const std::string user = shell_word(field_or(fields, "user", "postgres"));
      const std::string database = shell_word(field_or(fields, "dbname", field_or(fields, "user", "postgres")));
      if (has_containers(engine_cli))
        commands.push_back(fmt::format("{} exec {} psql -U {} -c 'SELECT pg_promote()'", engine_cli, standby->container, user));
      else if (standby->host_port > 0)
        commands.push_back(fmt::format("PGPASSFILE={} psql -h 127.0.0.1 -p {} -U {} -d {} -c 'SELECT pg_promote()'",
                                       pgpass.string(), standby->host_port, user, database));
    }
  } else if (step.verb == StepVerb::action && step.what == "repoint") {
    const ServiceAccess* to = find_service(services, step.param_text("to"));
    const std::string name = step.param_text("service");
    if (to && !has_containers(engine_cli)) {
      // Local processes share this machine's hosts file: the name moves with the fault proxies
      // every client reaches it through, which only firedrill holds.
      commands.push_back(fmt::format("# the clients reach {} through firedrill's fault proxies: press r to point them at {}",
                                     name, to->name));
    } else if (to && !to->address.empty()) {
      // What the repoint action does in every other container: the name resolves to the new address.
      // /etc/hosts is a bind mount: rewritten in place, never replaced.
      const std::string script = fmt::format(
          "grep -v \"[[:space:]]{0}$\" /etc/hosts >/tmp/hosts; echo \"{1} {0}\" >>/tmp/hosts; cat /tmp/hosts >/etc/hosts",
          name, to->address);
      for (const auto& client : services)
        if (client.name != name && client.name != to->name)
          commands.push_back(fmt::format("{} exec {} sh -c {}", engine_cli, client.container, shell_quote(script)));
    }
  }
  for (const auto& name : services_named(step))
    if (const ServiceAccess* service = find_service(services, name)) access_commands(*service, engine_cli, pgpass, commands);
  return commands;
}

HumanTask describe_human_step(const StepSpec& step, std::size_t index, std::size_t step_count,
                              const std::string& engine_cli, const std::vector<ServiceAccess>& services,
                              const std::filesystem::path& pgpass) {
  HumanTask task;
  task.index = index;
  task.step_count = step_count;
  task.name = step.name;
  task.instruction = step.verb == StepVerb::manual ? step.what : step.manual;
  task.commands = suggested_commands(step, engine_cli, services, pgpass);
  task.budget = step.budget;
  task.automatable = step.verb == StepVerb::action;
  if (step.until)
    task.until = step.until->healthy.empty()
                     ? fmt::format("the query `{}` on {} returns true", step.until->sql, step.until->service)
                     : fmt::format("every probe of {} succeeds", step.until->healthy);
  return task;
}

bool sql_value_is_true(const std::string& value) {
  if (value == "t" || value == "true" || value == "on") return true;
  try {
    std::size_t used = 0;
    double number = std::stod(value, &used);
    return used == value.size() && number != 0;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace firedrill
