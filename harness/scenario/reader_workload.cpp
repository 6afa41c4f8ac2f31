// The workload section: each writer, its pace, and the contracts it may declare — how a write is
// made (`http:`, `sql:`, `redis:`) and how the writes are found again (`read_back:`). Every
// template is compiled here, so a bad one stops the load at its line.
#include <algorithm>
#include <cstdlib>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "clients/workload/write_template.hpp"
#include "core/duration.hpp"
#include "core/utf8.hpp"
#include "harness/scenario/reader.hpp"

namespace firedrill::scenario_yaml {
namespace {

const std::vector<std::string> http_methods = {"POST", "PUT", "PATCH", "DELETE", "GET"};

bool is_header_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

/// The JSON a YAML body means: maps and lists as they are, a scalar that is a JSON number, true,
/// false or null as that, any other scalar as a string.
nlohmann::json json_of(const Node& node) {
  switch (node.kind) {
    case Node::Kind::map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& entry : node.entries) object[entry.key] = json_of(entry.value);
      return object;
    }
    case Node::Kind::sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const auto& item : node.items) array.push_back(json_of(item));
      return array;
    }
    case Node::Kind::null:
      return nullptr;
    case Node::Kind::scalar:
      break;
  }
  const auto literal = nlohmann::json::parse(node.value, nullptr, false);
  if (!literal.is_discarded() && (literal.is_number() || literal.is_boolean() || literal.is_null())) return literal;
  return node.value;
}

/// The protocol a service kind's services speak (ServiceKind::speaks); empty for an unknown kind.
std::string speaks(const std::string& kind) {
  const ServiceKind* found = find_service_kind(kind);
  return found ? found->speaks : std::string();
}

}  // namespace

void ScenarioReader::read_workload(const Node& node) {
  expect(node, Node::Kind::sequence, "'workload'");
  std::set<std::string> names;
  for (const auto& item : node.items) {
    const Node& spec = expect(item, Node::Kind::map, "each workload");
    check_keys(spec, {"name", "through", "rate", "concurrency", "timeout", "http", "sql", "redis", "read_back"},
               "workload");
    WorkloadSpec workload;
    workload.where = location(spec.where);
    workload.name = unique_name(spec, names, "workload");
    // Its name is part of every write's id, and of the implied contracts' SQL and JSON.
    if (!matches_name(workload.name, false))
      fail(find(spec, "name")->value.where,
           fmt::format("invalid workload name '{}': lowercase letters, digits and '-', at most 63", workload.name));
    const Entry* through = find(spec, "through");
    if (!through)
      fail(spec.where, fmt::format("workload '{}' needs 'through' (the service it writes to)", workload.name));
    const std::string kind = existing_service(through->value, "through");
    workload.through = through->value.value;

    const Entry* declared = nullptr;
    for (const char* key : {"http", "sql", "redis"}) {
      const Entry* e = find(spec, key);
      if (e && declared)
        fail(e->key_where, fmt::format("workload '{}' declares both '{}' and '{}': a writer writes one way",
                                       workload.name, declared->key, e->key));
      if (e) declared = e;
    }
    if (declared) {
      workload.request = read_write_request(*declared, workload);
    } else if (kind != "app" && speaks(kind) != "postgres" && speaks(kind) != "redis") {
      fail(through->value.where,
           fmt::format("workload '{}' goes through '{}', a {} service: say how it is written to (http:, sql: or "
                       "redis:), or write through an app or a service that speaks postgres or redis",
                       workload.name, workload.through, kind));
    }
    if (const Entry* e = find(spec, "read_back")) {
      workload.read_back = read_read_back(e->value, workload);
    } else if (declared) {
      fail(declared->key_where,
           fmt::format("workload '{}' says how it writes but not how its writes are found again: add read_back: "
                       "(sql:, http: or redis:)",
                       workload.name));
    }

    const Entry* rate = find(spec, "rate");
    if (!rate) fail(spec.where, fmt::format("workload '{}' needs a 'rate' (like 200/s, or max)", workload.name));
    try {
      workload.rate_per_second = parse_rate(scalar(rate->value, "rate"));
    } catch (const std::invalid_argument& e) {
      fail(rate->value.where, e.what());
    }
    if (const Entry* e = find(spec, "concurrency")) workload.concurrency = integer(e->value, "concurrency", 1, 256);
    if (const Entry* e = find(spec, "timeout")) {
      workload.timeout = duration(e->value, "timeout");
      // libcurl and hiredis read a zero timeout as none at all.
      if (*workload.timeout < std::chrono::milliseconds(10))
        fail(e->value.where, "a write's 'timeout' is at least 10ms");
    }
    scenario_.workload.push_back(workload);
  }
}

std::string ScenarioReader::substitute_env(const Node& node, const std::string& text, std::string_view subject) {
  std::string substituted;
  std::size_t done = 0;
  for (std::size_t at = text.find("${env."); at != std::string::npos; at = text.find("${env.", done)) {
    const std::size_t close = text.find('}', at);
    if (close == std::string::npos) fail(node.where, fmt::format("unterminated '${{' in '{}'", text));
    const std::string name = text.substr(at + 6, close - at - 6);
    // firedrill's own settings (the signing key, the engine's address, …) are not a scenario's to
    // hand to a service it drills.
    if (name.starts_with("FIREDRILL_"))
      fail(node.where, fmt::format("{} names ${{env.{}}}: names starting with FIREDRILL_ are firedrill's own and "
                                   "never reach a service",
                                   subject, name));
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (value == nullptr)
      fail(node.where, fmt::format("{} names ${{env.{}}}, which is not set in firedrill's environment", subject, name));
    const std::string_view held(value);
    if (std::any_of(held.begin(), held.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
      fail(node.where, fmt::format("${{env.{}}} holds a line break or another control character", name));
    if (!is_valid_utf8(held)) fail(node.where, fmt::format("${{env.{}}} is not UTF-8 text", name));
    // Its value is a literal: a ${...} in it would be read as a placeholder on every write.
    if (held.find("${") != std::string_view::npos) fail(node.where, fmt::format("${{env.{}}} holds '${{'", name));
    if (*value != '\0') scenario_.loaded_secrets.emplace_back(value);
    substituted.append(text, done, at - done).append(value);
    done = close + 1;
  }
  return substituted.append(text, done);
}

std::string ScenarioReader::read_template(const Node& node, std::string_view subject, bool headers_secret,
                                          bool id_only) {
  const std::string& raw = scalar(node, subject);
  // Checked as written, each ${env.NAME} standing for a plain word, so no message quotes a value.
  std::string as_written = raw;
  for (std::size_t at = as_written.find("${env."); at != std::string::npos; at = as_written.find("${env.", at)) {
    const std::size_t close = as_written.find('}', at);
    if (close == std::string::npos) break;
    as_written.replace(at, close + 1 - at, "env");
  }
  try {
    const WriteTemplate compiled = WriteTemplate::compile(as_written, WriteTemplate::Escape::none);
    if (id_only && (compiled.names("write.seq") || compiled.names("write.time")))
      fail(node.where, fmt::format("{} may name only ${{write.id}}: a read-back knows no write's number or time", subject));
  } catch (const TemplateError& e) {
    fail(node.where, fmt::format("{}: {}", subject, e.what()));
  }
  std::string text = substitute_env(node, raw, subject);
  if (headers_secret)
    for (const auto& value : node.var_values)
      if (!value.empty()) scenario_.loaded_secrets.push_back(value);
  return text;
}

std::vector<HeaderTemplate> ScenarioReader::read_headers(const Node& node, bool id_only) {
  expect(node, Node::Kind::map, "'headers'");
  std::vector<HeaderTemplate> headers;
  for (const auto& entry : node.entries) {
    if (!is_header_name(entry.key)) fail(entry.key_where, fmt::format("'{}' is not an HTTP header name", entry.key));
    std::string value = read_template(entry.value, fmt::format("header '{}'", entry.key), true, id_only);
    if (value.find_first_of("\r\n") != std::string::npos)
      fail(entry.value.where, fmt::format("header '{}' holds a line break", entry.key));
    headers.push_back({entry.key, std::move(value)});
  }
  return headers;
}

std::vector<int> ScenarioReader::read_statuses(const Node& node, std::string_view subject) {
  std::vector<int> statuses;
  if (node.kind == Node::Kind::scalar) {
    statuses.push_back(integer(node, subject, 100, 599));
    return statuses;
  }
  expect(node, Node::Kind::sequence, fmt::format("'{}'", subject));
  for (const auto& item : node.items) statuses.push_back(integer(item, subject, 100, 599));
  if (statuses.empty()) fail(node.where, fmt::format("'{}' lists no status", subject));
  return statuses;
}

std::string ScenarioReader::read_json_pointer(const Node& node, std::string_view subject) {
  const std::string text = scalar(node, subject);
  try {
    (void)nlohmann::json::json_pointer(text);
  } catch (const nlohmann::json::exception&) {
    fail(node.where, fmt::format("'{}' is not a JSON pointer ({}): like /id or /issue/id", text, subject));
  }
  if (text.empty()) fail(node.where, fmt::format("{} is empty: point at a value, like /id", subject));
  return text;
}

std::string ScenarioReader::service_of_kind(const Node* node, const std::string& fallback, const std::string& protocol,
                                            std::string_view subject, Pos where) {
  std::string name = fallback;
  if (node) {
    name = node->value;
    existing_service(*node, "service");
    where = node->where;
  }
  const auto found = kinds_.find(name);
  if (found == kinds_.end() || speaks(found->second) != protocol)
    fail(where, fmt::format("{} needs a service that speaks {}; '{}' is {}", subject, protocol, name,
                            found == kinds_.end() ? "not one" : "a " + found->second + " service"));
  return name;
}

WriteRequestSpec ScenarioReader::read_write_request(const Entry& entry, const WorkloadSpec& workload) {
  const Node& spec = expect(entry.value, Node::Kind::map, fmt::format("'{}'", entry.key));
  WriteRequestSpec request;
  request.kind = entry.key;
  request.where = location(entry.key_where);
  const std::string subject = fmt::format("workload '{}'", workload.name);
  if (request.kind == "http") {
    check_keys(spec, {"method", "path", "headers", "body", "expect", "id_from"}, "http writer");
    const std::string& kind = kinds_.at(workload.through);
    if (speaks(kind) == "postgres" || speaks(kind) == "redis" || kind == "sentinel")
      fail(entry.key_where, fmt::format("{} writes over HTTP through '{}', a {} service", subject, workload.through, kind));
    if (const Entry* e = find(spec, "method")) {
      request.method = scalar(e->value, "method");
      if (std::find(http_methods.begin(), http_methods.end(), request.method) == http_methods.end())
        fail(e->value.where, fmt::format("unknown method '{}': expected {}", request.method, fmt::join(http_methods, ", ")));
    }
    const Entry* path = find(spec, "path");
    if (!path) fail(entry.key_where, fmt::format("{}'s http writer needs a 'path' (like /orders)", subject));
    request.path = read_template(path->value, "path", false, false);
    if (!request.path.starts_with("/")) fail(path->value.where, fmt::format("path '{}' must start with '/'", path->value.value));
    if (const Entry* e = find(spec, "headers")) request.headers = read_headers(e->value, false);
    if (const Entry* e = find(spec, "body")) {
      if (e->value.kind == Node::Kind::scalar) {
        request.body = read_template(e->value, "body", false, false);
      } else {
        // A body written as YAML is JSON: each string of it a template whose values are escaped
        // as JSON; a string that is only ${write.seq} becomes the number.
        const auto check = [&](const auto& self, const Node& node) -> void {
          if (node.kind == Node::Kind::scalar) read_template(node, "body", false, false);
          for (const auto& item : node.items) self(self, item);
          for (const auto& member : node.entries) self(self, member.value);
        };
        check(check, e->value);
        Node substituted = e->value;
        const auto substitute = [&](const auto& self, Node& node) -> void {
          if (node.kind == Node::Kind::scalar) node.value = read_template(node, "body", false, false);
          for (auto& item : node.items) self(self, item);
          for (auto& member : node.entries) self(self, member.value);
        };
        substitute(substitute, substituted);
        std::string json = json_of(substituted).dump();
        for (std::size_t at = json.find("\"${write.seq}\""); at != std::string::npos; at = json.find("\"${write.seq}\"", at))
          json.replace(at, 14, "${write.seq}");
        request.body = std::move(json);
        request.body_is_json = true;
        if (std::none_of(request.headers.begin(), request.headers.end(),
                         [](const HeaderTemplate& h) { return h.name == "Content-Type" || h.name == "content-type"; }))
          request.headers.push_back({"Content-Type", "application/json"});
      }
    }
    if (const Entry* e = find(spec, "expect")) request.expect = read_statuses(e->value, "expect");
    if (const Entry* e = find(spec, "id_from")) request.id_from = read_json_pointer(e->value, "id_from");
    const auto names_id = [](const std::string& text) { return text.find("${write.id}") != std::string::npos; };
    const bool identified = !request.id_from.empty() || names_id(request.path) || names_id(request.body) ||
                            std::any_of(request.headers.begin(), request.headers.end(),
                                        [&](const HeaderTemplate& h) { return names_id(h.value); });
    if (!identified)
      fail(entry.key_where, fmt::format("{}'s writes could never be found again: name ${{write.id}} in the path, body or "
                                        "a header, or take the id from the answer with id_from",
                                        subject));
  } else if (request.kind == "sql") {
    check_keys(spec, {"service", "setup", "statement", "statements", "transaction"}, "sql writer");
    const Entry* service = find(spec, "service");
    request.service = service_of_kind(service ? &service->value : nullptr, workload.through, "postgres",
                                      subject + "'s sql writer", entry.key_where);
    if (service == nullptr) request.service.clear();  // the writer's own `through`
    if (const Entry* e = find(spec, "setup"))
      request.setup = e->value.kind == Node::Kind::sequence ? scalar_list(e->value, "setup")
                                                            : std::vector<std::string>{non_empty(e->value, "setup")};
    const Entry* one = find(spec, "statement");
    const Entry* many = find(spec, "statements");
    if ((one == nullptr) == (many == nullptr))
      fail(entry.key_where, fmt::format("{}'s sql writer needs 'statement' or 'statements' (one of them)", subject));
    request.statements = one ? std::vector<std::string>{non_empty(one->value, "statement")}
                             : scalar_list(many->value, "statements");
    const Node& where = one ? one->value : many->value;
    if (request.statements.empty()) fail(where.where, "'statements' lists none");
    bool binds_id = false;
    for (const auto& statement : request.statements) {
      const int highest = highest_sql_parameter(statement);
      if (highest > 2)
        fail(where.where, fmt::format("a write statement binds ${}: only $1 (the write's id) and $2 (its time) exist", highest));
      binds_id = binds_id || highest >= 1;
    }
    if (!binds_id)
      fail(where.where, fmt::format("{}'s statements never bind $1, the write's id: its writes could not be found again",
                                    subject));
    if (const Entry* e = find(spec, "transaction")) request.transaction = boolean(e->value, "transaction");
  } else {
    check_keys(spec, {"command"}, "redis writer");
    service_of_kind(nullptr, workload.through, "redis", subject + "'s redis writer", entry.key_where);
    const Entry* command = find(spec, "command");
    if (!command) fail(entry.key_where, fmt::format("{}'s redis writer needs a 'command'", subject));
    if (command->value.kind == Node::Kind::sequence) {
      for (const auto& word : command->value.items) request.command.push_back(read_template(word, "command", false, false));
    } else {
      const std::string text = read_template(command->value, "command", false, false);
      for (std::size_t at = text.find_first_not_of(' '); at != std::string::npos; at = text.find_first_not_of(' ', at)) {
        const std::size_t end = std::min(text.find(' ', at), text.size());
        request.command.push_back(text.substr(at, end - at));
        at = end;
      }
    }
    if (request.command.empty()) fail(command->value.where, "the redis command is empty");
    if (std::none_of(request.command.begin(), request.command.end(),
                     [](const std::string& word) { return word.find("${write.id}") != std::string::npos; }))
      fail(command->value.where, fmt::format("{}'s redis command never names ${{write.id}}: its writes could not be "
                                             "found again",
                                             subject));
  }
  return request;
}

ReadBackSpec ScenarioReader::read_read_back(const Node& node, const WorkloadSpec& workload) {
  const Node& spec = expect(node, Node::Kind::map, "'read_back'");
  check_keys(spec, {"sql", "http", "redis", "timeout", "concurrency"}, "read_back");
  const std::string subject = fmt::format("workload '{}''s read-back", workload.name);
  const Entry* declared = nullptr;
  for (const char* key : {"sql", "http", "redis"}) {
    const Entry* e = find(spec, key);
    if (e && declared) fail(e->key_where, fmt::format("{} declares both '{}' and '{}'", subject, declared->key, e->key));
    if (e) declared = e;
  }
  if (!declared) fail(node.where, fmt::format("{} needs one of sql:, http: or redis:", subject));
  ReadBackSpec read;
  read.kind = declared->key;
  read.where = location(declared->key_where);
  if (const Entry* e = find(spec, "timeout")) read.timeout = duration(e->value, "timeout");
  if (const Entry* e = find(spec, "concurrency")) read.concurrency = integer(e->value, "concurrency", 1, 64);
  const Node& how = expect(declared->value, Node::Kind::map, fmt::format("'{}'", declared->key));
  const Entry* service = find(how, "service");
  if (read.kind == "sql") {
    check_keys(how, {"service", "query"}, "sql read-back");
    const std::string fallback =
        workload.request && workload.request->kind == "sql" && !workload.request->service.empty() ? workload.request->service
                                                                                                  : workload.through;
    read.service = service_of_kind(service ? &service->value : nullptr, fallback, "postgres", subject, declared->key_where);
    const Entry* query = find(how, "query");
    if (!query) fail(declared->key_where, fmt::format("{} needs a 'query'", subject));
    read.query = non_empty(query->value, "query");
    if (highest_sql_parameter(read.query) > 1)
      fail(query->value.where, "a read-back query binds only $1 (the ids asked, a text[]): it names more");
  } else if (read.kind == "http") {
    check_keys(how, {"service", "path", "headers", "found", "ids_at", "next_at", "next_param"}, "http read-back");
    read.service = service ? existing_service(service->value, "service"), service->value.value : workload.through;
    const Entry* path = find(how, "path");
    if (!path) fail(declared->key_where, fmt::format("{} needs a 'path'", subject));
    read.path = read_template(path->value, "path", false, true);
    if (!read.path.starts_with("/")) fail(path->value.where, fmt::format("path '{}' must start with '/'", path->value.value));
    if (const Entry* e = find(how, "headers")) read.headers = read_headers(e->value, true);
    if (const Entry* e = find(how, "found")) read.found = read_statuses(e->value, "found");
    if (const Entry* e = find(how, "ids_at")) read.ids_at = read_json_pointer(e->value, "ids_at");
    if (const Entry* e = find(how, "next_at")) read.next_at = read_json_pointer(e->value, "next_at");
    if (const Entry* e = find(how, "next_param")) read.next_param = non_empty(e->value, "next_param");
    const bool per_id = read.path.find("${write.id}") != std::string::npos;
    if (per_id == !read.ids_at.empty())
      fail(path->value.where,
           per_id ? "a read-back path with ${write.id} asks for each write: it takes no ids_at"
                  : "a read-back path without ${write.id} lists the ids: say where in the answer with ids_at (a JSON "
                    "pointer, like /ids)");
    if (!read.next_at.empty() != !read.next_param.empty())
      fail(declared->key_where, "paging needs both next_at (where the cursor is) and next_param (what to send it as)");
  } else {
    check_keys(how, {"service", "command"}, "redis read-back");
    read.service = service_of_kind(service ? &service->value : nullptr, workload.through, "redis", subject, declared->key_where);
    const Entry* command = find(how, "command");
    if (!command) fail(declared->key_where, fmt::format("{} needs a 'command' (like EXISTS ${{write.id}})", subject));
    const std::string text = read_template(command->value, "command", false, true);
    for (std::size_t at = text.find_first_not_of(' '); at != std::string::npos; at = text.find_first_not_of(' ', at)) {
      const std::size_t end = std::min(text.find(' ', at), text.size());
      read.command.push_back(text.substr(at, end - at));
      at = end;
    }
    if (text.find("${write.id}") == std::string::npos)
      fail(command->value.where, "a redis read-back command asks for one write: it names ${write.id}");
  }
  if (service == nullptr && read.kind != "sql") read.service.clear();
  if (service == nullptr && read.kind == "sql" && read.service == workload.through) read.service.clear();
  return read;
}

}  // namespace firedrill::scenario_yaml
